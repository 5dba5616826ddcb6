package hosttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
)

// Dir holds the lock files and the recorded values (a tmpfs: gone at
// reboot, as the files of /run/lock are).
var Dir = "/run/lock"

const (
	metaName  = "hull-test-host.lock"
	usersName = "hull-test-host.users"
	savedName = "hull-test-host.json"
)

// Hold records the values of the files at paths when no other holder does
// and answers the function that lets go: the last holder's writes the
// recorded values back. Paths that cannot be read are left alone. Without
// the lock files (not root) it records and restores on its own.
func Hold(paths ...string) (release func()) {
	own := read(paths)
	meta, err := os.OpenFile(filepath.Join(Dir, metaName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return func() { write(own) }
	}
	users, err := os.OpenFile(filepath.Join(Dir, usersName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		meta.Close()
		return func() { write(own) }
	}
	saved := filepath.Join(Dir, savedName)
	syscall.Flock(int(meta.Fd()), syscall.LOCK_EX)
	if syscall.Flock(int(users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		// No other holder: these values are the host's own.
		if b, err := json.Marshal(own); err == nil {
			os.WriteFile(saved, b, 0o600)
		}
	} else if b, err := os.ReadFile(saved); err == nil {
		// Another holder recorded the host's values; add ours for paths
		// it did not record.
		var rec map[string]string
		if json.Unmarshal(b, &rec) == nil {
			for p, v := range own {
				if _, ok := rec[p]; !ok {
					rec[p] = v
				}
			}
			if b, err := json.Marshal(rec); err == nil {
				os.WriteFile(saved, b, 0o600)
			}
		}
	}
	syscall.Flock(int(users.Fd()), syscall.LOCK_SH)
	syscall.Flock(int(meta.Fd()), syscall.LOCK_UN)
	return func() {
		defer meta.Close()
		defer users.Close()
		syscall.Flock(int(meta.Fd()), syscall.LOCK_EX)
		defer syscall.Flock(int(meta.Fd()), syscall.LOCK_UN)
		if syscall.Flock(int(users.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return // others still hold: the last of them writes back
		}
		rec := own
		if b, err := os.ReadFile(saved); err == nil {
			json.Unmarshal(b, &rec)
		}
		write(rec)
		os.Remove(saved)
		syscall.Flock(int(users.Fd()), syscall.LOCK_UN)
	}
}

func read(paths []string) map[string]string {
	vals := map[string]string{}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			vals[p] = string(b)
		}
	}
	return vals
}

func write(vals map[string]string) {
	for p, v := range vals {
		os.WriteFile(p, []byte(v), 0o644)
	}
}
