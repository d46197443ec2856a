import ArgumentParser
import Cnnz
import Foundation

// Shared by `infer` and `convert` (Sources/convert/ToolMain.swift is a symbolic link to this file).

extension ParsableCommand {
    /// Parses the command line and runs the command, so that every failure is one line on stderr
    /// beginning `error:`. ArgumentParser's own `main()` begins usage errors with `Error:` and adds
    /// the usage; here a usage error is one line that points at `--help` and exits 64 (EX_USAGE),
    /// a `CnnzError` is its one-line message and exits 1, and `--help` prints the help and exits 0.
    static func mainReportingErrors() -> Never {
        do {
            var command = try parseAsRoot()
            try command.run()
            Foundation.exit(EXIT_SUCCESS)
        } catch let error as CnnzError {
            printError(error.message)
            Foundation.exit(EXIT_FAILURE)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                // --help and other clean exits.
                print(fullMessage(for: error))
                Foundation.exit(code.rawValue)
            }
            let text = message(for: error)
            if !text.isEmpty {
                printError("\(sentenceCase(text)); see '\(configuration.commandName ?? "") --help'")
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Writes `error: message` and a newline to stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
}

/// ArgumentParser's messages begin with a capital ("Missing value for ..."); ours do not. An
/// initial capital followed by a lower-case letter is lowered, so that names ("PNG") stay.
private func sentenceCase(_ text: String) -> String {
    let characters = Array(text)
    guard characters.count >= 2, characters[0].isUppercase, characters[1].isLowercase else { return text }
    return characters[0].lowercased() + String(characters.dropFirst())
}
