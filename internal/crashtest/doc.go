// Package crashtest proves that Portico loses no acknowledged write when it
// is killed. It holds no code, only tests: they build the real
// `portico serve` binary, run it under load, kill it with SIGKILL at random
// moments and restart it on the same data directory.
//
// Each kill cycle starts the server and drives the CloudFront API with 8
// concurrent writers through the AWS SDK for Go v2. Each writer owns two
// distribution slots, each an alias under one wildcard ACM certificate,
// and creates, reads, lists, updates with If-Match, disables and deletes
// the distribution in them, one request at a time. After a random delay the
// server is killed; in one cycle in four it is also killed once more during
// its next start-up. Then:
//
//   - bbolt's consistency check (tx.Check, what `bbolt check` runs) runs
//     on the store file before anything opens it again
//     (TestStoreFilePassesBoltCheckAfterKill9);
//   - the restarted server must hold every acknowledged write: an
//     acknowledged create exists with the configuration sent, an
//     acknowledged update is stored with the ETag it returned (or the write
//     the kill cut off took effect after it), an acknowledged delete is
//     gone, and the certificate's InUseBy lists exactly the live
//     distributions (TestAcknowledgedWritesSurviveKill9);
//   - every request is recorded with its call and return time. A write
//     whose response the kill cut off is recorded with an unknown outcome
//     and, as its return time, the moment the process was seen dead:
//     whatever it did, it did before then. The whole history, across every
//     kill, is checked for linearizability with
//     github.com/anishathalye/porcupine against a compare-and-set register
//     per slot (TestHistoryIsLinearizable).
//
// The three tests share one run of the kill loop (skipped with -short).
// It runs 10 cycles by default, which takes seconds; PORTICO_CRASH_CYCLES
// sets another count. The full soak of 100 cycles is
//
//	make crash-soak
//
// which runs
//
//	PORTICO_CRASH_CYCLES=100 go test -count=1 -timeout 60m -v -run 'Kill9|Linearizable' ./internal/crashtest
//
// SIGKILL kills the process, not the machine: what reached the kernel
// survives it. Losing unsynced pages as in a power failure needs dm-flakey
// and root, and is out of reach here.
package crashtest
