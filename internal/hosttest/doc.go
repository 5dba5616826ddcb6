// Package hosttest lets tests that change the host's global settings —
// the forwarding switches under /proc/sys that bridge networks turn on —
// share them across test binaries: `go test ./...` runs packages at once,
// so one package putting a switch back while another's daemon still needs
// it would break the other's test. The first holder records the values;
// the last one to let go writes them back.
//
// Holders are counted by the kernel: each keeps a shared flock on a users
// file for as long as it holds, so a test binary that dies stops counting.
// A second file's exclusive flock orders the bookkeeping.
package hosttest
