import Cnnz
import Foundation

extension InferCommand {
    /// `--bench-load`: a row per loading step (median milliseconds and share), then the whole load.
    static func render(_ profile: LoadProfile) -> String {
        let sum = profile.steps.reduce(0) { $0 + $1.seconds }
        var lines = [
            "load: \(profile.runs) runs after 1 warm-up; file \(profile.fileBytes) bytes, payload \(profile.payloadBytes) bytes"
        ]
        for step in profile.steps {
            lines.append(
                "  " + step.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(format: " %8.3f ms  %5.1f %%", step.seconds * 1000, sum > 0 ? step.seconds / sum * 100 : 0)
            )
        }
        lines.append(
            "  " + "steps added up".padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(format: " %8.3f ms", sum * 1000))
        lines.append(String(format: "whole load (Model(contentsOfFile:)): median %.3f ms", profile.totalSeconds * 1000))
        return lines.joined(separator: "\n")
    }
}
