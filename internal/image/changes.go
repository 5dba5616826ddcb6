package image

import (
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/docker/go-connections/nat"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/sys/signal"

	"github.com/hullproject/hull/internal/errdefs"
)

// changeInstructions are the Dockerfile instructions docker commit and
// docker import take as changes. dockerd 20.10 refuses STOPSIGNAL; newer
// ones take it, and so does hull.
var changeInstructions = map[string]bool{
	"cmd": true, "entrypoint": true, "env": true, "expose": true, "healthcheck": true, "label": true,
	"onbuild": true, "stopsignal": true, "user": true, "volume": true, "workdir": true,
}

// ApplyChanges applies Dockerfile instructions, as docker import
// --change and docker commit --change take them, to c, as dockerd's
// builder does (BuildFromConfig): the changes are parsed as one
// Dockerfile by BuildKit's parser, each instruction checked by BuildKit's
// instruction parser, and applied in order; ENV, LABEL, EXPOSE, USER,
// VOLUME, WORKDIR and STOPSIGNAL expand $VAR, ${VAR:-default} and
// ${VAR:+alt} from the environment c has at that point. CMD and
// ENTRYPOINT in shell form run under c.Shell or /bin/sh -c; ENTRYPOINT
// clears the command unless a CMD came before it. Anything wrong fails
// with errdefs.ErrInvalidArgument in dockerd's words ("from is not a valid
// change command", "ENV must have two arguments", "Invalid containerPort:
// x"…).
func ApplyChanges(c *Config, changes []string) error {
	if len(changes) == 0 {
		return nil
	}
	invalid := func(err error) error { return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err) }
	ast, err := parser.Parse(bytes.NewBufferString(strings.Join(changes, "\n")))
	if err != nil {
		return invalid(err)
	}
	var cmds []instructions.Command
	for _, n := range ast.AST.Children {
		if !changeInstructions[strings.ToLower(n.Value)] {
			// dockerd 20.10's words; its parser lower-cased the name.
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s is not a valid change command", strings.ToLower(n.Value))
		}
		cmd, err := instructions.ParseCommand(n)
		if err != nil {
			return invalid(err)
		}
		cmds = append(cmds, cmd)
	}
	lex := shell.NewLex(ast.EscapeToken)
	cmdSet := false
	for _, cmd := range cmds {
		envs := shell.EnvsFromSlice(c.Env)
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) {
				w, _, err := lex.ProcessWord(word, envs)
				return w, err
			})
			if err != nil {
				return invalid(err)
			}
		}
		if err := applyChange(c, cmd, lex, envs, &cmdSet); err != nil {
			return invalid(err)
		}
	}
	return nil
}

// applyChange is dockerd's dispatcher of one instruction onto a config.
func applyChange(c *Config, cmd instructions.Command, lex *shell.Lex, envs shell.EnvGetter, cmdSet *bool) error {
	switch x := cmd.(type) {
	case *instructions.EnvCommand:
		for _, kv := range x.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Key+"="+kv.Value)
		}
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range x.Labels {
			c.Labels[kv.Key] = kv.Value
		}
	case *instructions.ExposeCommand:
		// The one instruction whose words expand to several words.
		var ports []string
		for _, p := range x.Ports {
			ws, err := lex.ProcessWords(p, envs)
			if err != nil {
				return err
			}
			ports = append(ports, ws...)
		}
		exposed, _, err := nat.ParsePortSpecs(ports)
		if err != nil {
			return err
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for p := range exposed {
			c.ExposedPorts[string(p)] = struct{}{}
		}
	case *instructions.UserCommand:
		c.User = x.User
	case *instructions.WorkdirCommand:
		c.WorkingDir = workdir(c.WorkingDir, x.Path)
	case *instructions.VolumeCommand:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range x.Volumes {
			if v == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			c.Volumes[v] = struct{}{}
		}
	case *instructions.StopSignalCommand:
		if _, err := signal.ParseSignal(x.Signal); err != nil {
			return err
		}
		c.StopSignal = x.Signal
	case *instructions.OnbuildCommand:
		c.OnBuild = append(c.OnBuild, x.Expression)
	case *instructions.HealthCheckCommand:
		c.Healthcheck = &HealthConfig{Test: x.Health.Test, Interval: x.Health.Interval, Timeout: x.Health.Timeout,
			StartPeriod: x.Health.StartPeriod, StartInterval: x.Health.StartInterval, Retries: x.Health.Retries}
	case *instructions.CmdCommand:
		c.Cmd = commandLine(x.ShellDependantCmdLine, c.Shell)
		if len(x.CmdLine) > 0 {
			*cmdSet = true
		}
	case *instructions.EntrypointCommand:
		c.Entrypoint = commandLine(x.ShellDependantCmdLine, c.Shell)
		if !*cmdSet {
			c.Cmd = nil
		}
	default:
		return fmt.Errorf("%s is not a valid change command", cmd.Name())
	}
	return nil
}

// commandLine is CMD's or ENTRYPOINT's command: the exec form as it is,
// the shell form after the shell, none for an empty instruction.
func commandLine(cl instructions.ShellDependantCmdLine, sh []string) []string {
	if len(cl.CmdLine) == 0 {
		return []string{}
	}
	if !cl.PrependShell {
		return cl.CmdLine
	}
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), cl.CmdLine...)
}

// workdir is WORKDIR's result: a relative path is taken from the current
// one.
func workdir(current, requested string) string {
	if requested == "" {
		return current
	}
	if !path.IsAbs(requested) {
		requested = path.Join("/", current, requested)
	}
	return path.Clean(requested)
}

// setEnv replaces the variable of env named as kv's name, or appends kv.
func setEnv(env []string, name, kv string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); shell.EqualEnvKeys(k, name) {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
