import Testing

// Compiled instead of AllocationTests.swift when CNNZ_TEST_ALLOCATIONS is not set (see
// Package.swift): the malloc counter is then not a dependency, and the test says how to run it.
@Suite struct AllocationTests {
    @Test(.disabled("set CNNZ_TEST_ALLOCATIONS=1 to count allocations (Tests/run-all.sh and .ci/run do)"))
    func runningASessionAllocatesNothing() {}
}
