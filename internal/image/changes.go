package image

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// applyChanges applies Dockerfile instructions, as docker import --change
// and docker commit --change take them, to c. The instructions it knows
// are CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME and WORKDIR; CMD, ENTRYPOINT, VOLUME and
// HEALTHCHECK CMD take a JSON array (exec form) or, otherwise, a command
// line that runs under /bin/sh -c. Anything else fails with
// errdefs.ErrInvalidArgument.
func applyChanges(c *Config, changes []string) error {
	for _, ch := range changes {
		if err := applyChange(c, ch); err != nil {
			return fmt.Errorf("change %q: %w", ch, err)
		}
	}
	return nil
}

func applyChange(c *Config, change string) error {
	line := strings.TrimSpace(joinContinuations(change))
	if line == "" {
		return fmt.Errorf("empty instruction: %w", errdefs.ErrInvalidArgument)
	}
	instr, rest := line, ""
	if i := strings.IndexAny(line, " \t"); i >= 0 {
		instr, rest = line[:i], line[i+1:]
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToUpper(instr) {
	case "CMD", "ENTRYPOINT":
		cmd := commandForm(rest)
		if cmd == nil {
			return fmt.Errorf("%s needs a command, as a JSON array or a command line: %w", strings.ToUpper(instr), errdefs.ErrInvalidArgument)
		}
		if strings.EqualFold(instr, "CMD") {
			c.Cmd = cmd
		} else {
			c.Entrypoint = cmd
		}
	case "ENV":
		kvs, err := nameValues(rest, "ENV")
		if err != nil {
			return err
		}
		for _, kv := range kvs {
			c.Env = setEnv(c.Env, kv[0], kv[1])
		}
	case "LABEL":
		kvs, err := nameValues(rest, "LABEL")
		if err != nil {
			return err
		}
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range kvs {
			c.Labels[kv[0]] = kv[1]
		}
	case "EXPOSE":
		words, err := splitWords(rest)
		if err != nil {
			return err
		}
		if len(words) == 0 {
			return fmt.Errorf("EXPOSE needs at least one port: %w", errdefs.ErrInvalidArgument)
		}
		for _, w := range words {
			ports, err := parsePorts(w)
			if err != nil {
				return err
			}
			if c.ExposedPorts == nil {
				c.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				c.ExposedPorts[p] = struct{}{}
			}
		}
	case "USER":
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return fmt.Errorf("USER takes one user[:group]: %w", errdefs.ErrInvalidArgument)
		}
		c.User = rest
	case "WORKDIR":
		if rest == "" {
			return fmt.Errorf("WORKDIR needs a path: %w", errdefs.ErrInvalidArgument)
		}
		if !path.IsAbs(rest) {
			rest = path.Join("/", c.WorkingDir, rest)
		}
		c.WorkingDir = rest
	case "VOLUME":
		vols := jsonArray(rest)
		if vols == nil {
			var err error
			if vols, err = splitWords(rest); err != nil {
				return err
			}
		}
		if len(vols) == 0 {
			return fmt.Errorf("VOLUME needs at least one path: %w", errdefs.ErrInvalidArgument)
		}
		for _, v := range vols {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME with an empty path: %w", errdefs.ErrInvalidArgument)
			}
			if c.Volumes == nil {
				c.Volumes = map[string]struct{}{}
			}
			c.Volumes[v] = struct{}{}
		}
	case "STOPSIGNAL":
		if rest == "" || strings.ContainsAny(rest, " \t") {
			return fmt.Errorf("STOPSIGNAL takes one signal: %w", errdefs.ErrInvalidArgument)
		}
		c.StopSignal = rest
	case "ONBUILD":
		next, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(next) {
		case "":
			return fmt.Errorf("ONBUILD needs an instruction: %w", errdefs.ErrInvalidArgument)
		case "ONBUILD", "FROM", "MAINTAINER":
			return fmt.Errorf("ONBUILD cannot trigger %s: %w", strings.ToUpper(next), errdefs.ErrInvalidArgument)
		}
		c.OnBuild = append(c.OnBuild, rest)
	case "HEALTHCHECK":
		hc, err := parseHealthcheck(rest)
		if err != nil {
			return err
		}
		c.Healthcheck = hc
	default:
		return fmt.Errorf("unknown or unsupported instruction %q; --change takes CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR: %w",
			instr, errdefs.ErrInvalidArgument)
	}
	return nil
}

// joinContinuations joins lines ended by a backslash, as a Dockerfile
// does.
func joinContinuations(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\\\r\n", ""), "\\\n", "")
}

// jsonArray returns s as a JSON array of strings, or nil when it is not
// one.
func jsonArray(s string) []string {
	if !strings.HasPrefix(s, "[") {
		return nil
	}
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		return nil
	}
	if a == nil {
		a = []string{}
	}
	return a
}

// commandForm reads CMD and ENTRYPOINT: exec form (a JSON array) as it
// is, shell form under /bin/sh -c; nil when s is empty.
func commandForm(s string) []string {
	if a := jsonArray(s); a != nil {
		return a
	}
	if s == "" {
		return nil
	}
	return []string{"/bin/sh", "-c", s}
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if name, _, _ := strings.Cut(e, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// nameValues reads the arguments of ENV and LABEL: key=value pairs,
// quoted as in a shell, or the old single "key value with spaces" form.
func nameValues(s, instr string) ([][2]string, error) {
	words, err := splitWords(s)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("%s needs at least one argument: %w", instr, errdefs.ErrInvalidArgument)
	}
	if !strings.Contains(words[0], "=") {
		// Old form: the first word is the name, the rest of the line the
		// value.
		name, value, _ := strings.Cut(strings.TrimSpace(s), " ")
		value = strings.TrimSpace(value)
		if value == "" {
			return nil, fmt.Errorf("%s %s: needs a value (%s name=value): %w", instr, name, instr, errdefs.ErrInvalidArgument)
		}
		vw, err := splitWords(value)
		if err != nil {
			return nil, err
		}
		return [][2]string{{name, strings.Join(vw, " ")}}, nil
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %q is not name=value: %w", instr, w, errdefs.ErrInvalidArgument)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// splitWords splits s into words the way a Dockerfile does: at blanks,
// with single quotes, double quotes and backslash escapes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped = true
			inWord = true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched %c quote in %q: %w", quote, s, errdefs.ErrInvalidArgument)
	}
	if escaped {
		cur.WriteRune('\\')
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// parsePorts reads an EXPOSE argument: port[-port][/proto].
func parsePorts(s string) ([]string, error) {
	spec, proto, _ := strings.Cut(s, "/")
	proto = strings.ToLower(proto)
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("EXPOSE %s: protocol %q, want tcp, udp or sctp: %w", s, proto, errdefs.ErrInvalidArgument)
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	first, err := parsePort(lo)
	if err != nil {
		return nil, fmt.Errorf("EXPOSE %s: %w", s, err)
	}
	last := first
	if isRange {
		if last, err = parsePort(hi); err != nil {
			return nil, fmt.Errorf("EXPOSE %s: %w", s, err)
		}
		if last < first {
			return nil, fmt.Errorf("EXPOSE %s: range ends before it starts: %w", s, errdefs.ErrInvalidArgument)
		}
	}
	var out []string
	for p := first; p <= last; p++ {
		out = append(out, strconv.Itoa(p)+"/"+proto)
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("invalid port %q: want 1 to 65535: %w", s, errdefs.ErrInvalidArgument)
	}
	return n, nil
}

// parseHealthcheck reads HEALTHCHECK NONE or HEALTHCHECK [options] CMD
// command.
func parseHealthcheck(s string) (*HealthConfig, error) {
	if strings.EqualFold(strings.TrimSpace(s), "NONE") {
		return &HealthConfig{Test: []string{"NONE"}}, nil
	}
	hc := &HealthConfig{}
	rest := strings.TrimSpace(s)
	for strings.HasPrefix(rest, "--") {
		opt, after, _ := strings.Cut(rest, " ")
		rest = strings.TrimSpace(after)
		k, v, ok := strings.Cut(strings.TrimPrefix(opt, "--"), "=")
		if !ok {
			return nil, fmt.Errorf("HEALTHCHECK option %s: want --name=value: %w", opt, errdefs.ErrInvalidArgument)
		}
		var d *time.Duration
		switch k {
		case "interval":
			d = &hc.Interval
		case "timeout":
			d = &hc.Timeout
		case "start-period":
			d = &hc.StartPeriod
		case "start-interval":
			d = &hc.StartInterval
		case "retries":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("HEALTHCHECK --retries=%s: want a count: %w", v, errdefs.ErrInvalidArgument)
			}
			hc.Retries = n
			continue
		default:
			return nil, fmt.Errorf("HEALTHCHECK: unknown option --%s: %w", k, errdefs.ErrInvalidArgument)
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur < 0 {
			return nil, fmt.Errorf("HEALTHCHECK --%s=%s: want a duration: %w", k, v, errdefs.ErrInvalidArgument)
		}
		*d = dur
	}
	instr, cmd, _ := strings.Cut(rest, " ")
	if !strings.EqualFold(instr, "CMD") {
		return nil, fmt.Errorf("HEALTHCHECK takes NONE or [options] CMD command: %w", errdefs.ErrInvalidArgument)
	}
	cmd = strings.TrimSpace(cmd)
	if a := jsonArray(cmd); a != nil {
		if len(a) == 0 {
			return nil, fmt.Errorf("HEALTHCHECK CMD with an empty command: %w", errdefs.ErrInvalidArgument)
		}
		hc.Test = append([]string{"CMD"}, a...)
	} else if cmd != "" {
		hc.Test = []string{"CMD-SHELL", cmd}
	} else {
		return nil, fmt.Errorf("HEALTHCHECK CMD needs a command: %w", errdefs.ErrInvalidArgument)
	}
	return hc, nil
}
