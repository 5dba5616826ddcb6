// Package conformance holds hull's side-by-side conformance harness: the
// same Docker Engine API request sequences run against a private dockerd
// and a private hull daemon, and every difference in status, error text,
// headers and JSON answer is reported, unless allowed.txt explains it.
// Beyond the API versions dockerd 20.10 speaks, hull's answers are checked
// against the Engine API's own swagger document for the version asked.
//
// The harness is all tests (TestConformance); README.md says how to run
// it. It drives both daemons over their sockets only and imports no hull
// package.
package conformance
