package runtime

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// OOMScoreAdjFloor is the lowest oom_score_adj this process can give a
// process it starts, and whether there is one: without CAP_SYS_RESOURCE in
// its effective set, the kernel refuses to lower a process's
// oom_score_adj below the value a privileged writer last set for its
// family, which is taken as this process's own (it cannot be read).
func OOMScoreAdjFloor() (floor int, limited bool) {
	if hasEffectiveCap(unix.CAP_SYS_RESOURCE) {
		return 0, false
	}
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0, false
	}
	own, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return own, true
}

// hasEffectiveCap reads this process's effective capabilities
// (/proc/self/status CapEff) for capability c.
func hasEffectiveCap(c int) bool {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && eff&(1<<uint(c)) != 0
		}
	}
	return false
}
