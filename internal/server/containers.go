package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/hullproject/hull/internal/errdefs"
	"github.com/hullproject/hull/internal/filters"
)

// ContainerBackend serves /containers.
type ContainerBackend interface {
	ContainerCreate(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig, net *network.NetworkingConfig) (container.CreateResponse, error)
	// ContainerStart returns an errdefs.ErrNotModified error when the
	// container already runs (304).
	ContainerStart(ctx context.Context, id string) error
	// ContainerStop returns an errdefs.ErrNotModified error when the
	// container was not running (304).
	ContainerStop(ctx context.Context, id string, timeout *int, signal string) error
	ContainerRestart(ctx context.Context, id string, timeout *int, signal string) error
	ContainerKill(ctx context.Context, id, signal string) error
	ContainerRemove(ctx context.Context, id string, force, volumes bool) error
	// ContainerList lists containers, newest first, as dockerd (limit ≤ 0:
	// no limit); the filters are checked there.
	ContainerList(ctx context.Context, all bool, limit int, f filters.Args) ([]container.Summary, error)
	ContainerInspect(ctx context.Context, id string) (container.InspectResponse, error)
	// ContainerInspectSize is ContainerInspect with SizeRw and SizeRootFs.
	ContainerInspectSize(ctx context.Context, id string) (container.InspectResponse, error)
	// ContainerWait returns at once; the channel gives the status when
	// condition holds, or closes if ctx ends first.
	ContainerWait(ctx context.Context, id, condition string) (<-chan container.WaitResponse, error)
	ContainerResize(ctx context.Context, id string, height, width uint16) error
	// ContainerAttach replays the log (logs) and connects the streams
	// (stream; nil ones are not attached) until the container's output
	// ends or ctx is done. It calls attached once the attach is registered
	// (a start then waits for it), before any output; an error before that
	// is answered as a status.
	ContainerAttach(ctx context.Context, id string, logs, stream bool, detachKeys string, stdin io.Reader, stdout, stderr io.Writer, attached func()) error
	ContainerExecCreate(ctx context.Context, id string, cfg container.ExecCreateRequest) (string, error)
	// ContainerExecStart runs the exec; with streams it returns when the
	// process has exited, without (detached) once it runs.
	// consoleSize (height, width), when set, overrides the exec's.
	ContainerExecStart(ctx context.Context, execID string, consoleSize *[2]uint, stdin io.Reader, stdout, stderr io.Writer) error
	ContainerExecInspect(ctx context.Context, execID string) (container.ExecInspectResponse, error)
	ContainerExecResize(ctx context.Context, execID string, height, width uint16) error
	ExecTTY(execID string) (bool, error)
	ContainerPause(ctx context.Context, id string) error
	ContainerUpdate(ctx context.Context, id string, u container.UpdateConfig) ([]string, error)
	// ContainerCommit makes an image of the container; cfg, when set,
	// replaces the container's configuration in it.
	ContainerCommit(ctx context.Context, id, repo, tag, comment, author string, changes []string, pause bool, cfg *container.Config) (string, error)
	// ContainerExport writes the container's flattened file system as a
	// tar; started is called before the first byte.
	ContainerExport(ctx context.Context, id string, started func(), w io.Writer) error
	ContainerUnpause(ctx context.Context, id string) error
	ContainerRename(ctx context.Context, id, name string) error
	ContainerTop(ctx context.Context, id, psArgs string) (container.TopResponse, error)
	// ContainerChanges is docker diff, for a stopped or a running container.
	ContainerChanges(ctx context.Context, id string) ([]container.FilesystemChange, error)
	// ContainerStats sends samples to emit: one, or one a second with
	// stream until ctx ends or the container stops.
	ContainerStats(ctx context.Context, id string, stream, oneShot bool, emit func(container.StatsResponse) error) error
	// ContainerTrace is the container's creation trace (hull's own
	// endpoint): a JSON array of steps with their durations.
	ContainerTrace(ctx context.Context, id string) (any, error)
	ContainerLogs(ctx context.Context, id string, stdout, stderr, follow bool, tail int, since, until time.Time, started func(tty bool), emit func(stream string, line []byte, t time.Time) error) error
}

func (s *Server) containerRoutes() {
	s.handle("POST /containers/create", func(w http.ResponseWriter, r *http.Request) error {
		req, warnings, err := s.createRequest(w, r)
		if err != nil {
			return err
		}
		if req.Config != nil && req.HostConfig == nil {
			req.HostConfig = &container.HostConfig{}
		}
		if err := adaptCreate(requestVersion(r), req.Config, req.HostConfig); err != nil {
			return err
		}
		resp, err := s.backend.ContainerCreate(r.Context(), r.URL.Query().Get("name"), req.Config, req.HostConfig, req.NetworkingConfig)
		if err != nil {
			return err
		}
		resp.Warnings = append(resp.Warnings, warnings...)
		return writeJSON(w, http.StatusCreated, resp)
	})
	s.handle("GET /containers/json", func(w http.ResponseWriter, r *http.Request) error {
		f, err := queryFilters(r)
		if err != nil {
			return err
		}
		limit := 0
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil {
				return filters.Errorf(errdefs.ErrInvalidArgument, "%s", err)
			}
		}
		list := s.backend.ContainerList
		if boolValue(r, "size") {
			list = s.backend.ContainerListSize
		}
		items, err := list(r.Context(), boolValue(r, "all"), limit, f)
		if err != nil {
			return err
		}
		out, err := containerListVersion(r.Context(), items)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, out)
	})
	s.handle("GET /containers/{id}/json", func(w http.ResponseWriter, r *http.Request) error {
		inspect := s.backend.ContainerInspect
		if boolValue(r, "size") {
			inspect = s.backend.ContainerInspectSize
		}
		c, err := inspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		sh, err := containerInspectShape(r.Context(), c)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, s.legacyConfigMAC(r.Context(), c.ID, sh))
	})
	s.handle("POST /containers/{id}/start", func(w http.ResponseWriter, r *http.Request) error {
		// As dockerd's router: a body that can hold a JSON object (a host
		// config, as before 1.24), or one of unknown length, is refused.
		if r.ContentLength > 7 || r.ContentLength == -1 {
			return errdefs.Dockerf(errdefs.ErrInvalidArgument, "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24")
		}
		err := s.backend.ContainerStart(r.Context(), r.PathValue("id"))
		if errdefs.IsNotModified(err) {
			w.WriteHeader(http.StatusNotModified) // already started
			return nil
		}
		if err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	stopLike := func(f func(ctx context.Context, id string, timeout *int, signal string) error) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			var timeout *int
			if v := r.URL.Query().Get("t"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument) // dockerd's text
				}
				timeout = &n
			}
			err := f(r.Context(), r.PathValue("id"), timeout, stopSignal(r))
			if errdefs.IsNotModified(err) {
				w.WriteHeader(http.StatusNotModified)
				return nil
			}
			if err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	s.handle("POST /containers/{id}/stop", stopLike(s.backend.ContainerStop))
	s.handle("POST /containers/{id}/restart", stopLike(s.backend.ContainerRestart))
	s.handle("POST /containers/{id}/kill", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.backend.ContainerKill(r.Context(), r.PathValue("id"), r.URL.Query().Get("signal")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("DELETE /containers/{id}", func(w http.ResponseWriter, r *http.Request) error {
		if boolValue(r, "link") {
			return s.removeLink(w, r, r.PathValue("id"))
		}
		if err := s.backend.ContainerRemove(r.Context(), r.PathValue("id"), boolValue(r, "force"), boolValue(r, "v")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("POST /containers/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := resizeSize(r)
		if err != nil {
			return err
		}
		return s.backend.ContainerResize(r.Context(), r.PathValue("id"), h, wd)
	})
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("POST /containers/{id}/exec", func(w http.ResponseWriter, r *http.Request) error {
		var req container.ExecCreateRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		execCreateVersion(r.Context(), &req)
		id, err := s.backend.ContainerExecCreate(r.Context(), r.PathValue("id"), req)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, container.ExecCreateResponse{ID: id})
	})
	s.handle("POST /exec/{id}/start", s.execStart)
	noContent := func(f func(ctx context.Context, id string) error) handlerFunc {
		return func(w http.ResponseWriter, r *http.Request) error {
			if err := f(r.Context(), r.PathValue("id")); err != nil {
				return err
			}
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	s.handle("POST /containers/{id}/pause", noContent(s.backend.ContainerPause))
	s.handle("POST /containers/{id}/unpause", noContent(s.backend.ContainerUnpause))
	s.handle("POST /containers/{id}/rename", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.backend.ContainerRename(r.Context(), r.PathValue("id"), r.URL.Query().Get("name")); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	s.handle("GET /containers/{id}/top", func(w http.ResponseWriter, r *http.Request) error {
		top, err := s.backend.ContainerTop(r.Context(), r.PathValue("id"), r.URL.Query().Get("ps_args"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, top)
	})
	s.handle("GET /containers/{id}/export", func(w http.ResponseWriter, r *http.Request) error {
		started := false
		err := s.backend.ContainerExport(r.Context(), r.PathValue("id"), func() {
			// What dockerd's answer is sniffed as (its router names none).
			w.Header().Set("Content-Type", "application/octet-stream")
			w.WriteHeader(http.StatusOK)
			started = true
		}, w)
		if started {
			return nil // the answer has begun: a failure can only cut it short
		}
		return err
	})
	s.handle("POST /containers/{id}/update", func(w http.ResponseWriter, r *http.Request) error {
		var u container.UpdateConfig
		if err := decodeJSON(w, r, &u); err != nil {
			return err
		}
		updateVersion(r.Context(), &u)
		adaptUpdate(requestVersion(r), &u)
		warnings, err := s.backend.ContainerUpdate(r.Context(), r.PathValue("id"), u)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, container.UpdateResponse{Warnings: warnings})
	})
	s.handle("POST /commit", func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		var cfg *container.Config
		if r.ContentLength != 0 {
			var c container.Config
			if err := decodeJSON(w, r, &c); err != nil {
				return err
			}
			if c.Image != "" || len(c.Cmd) > 0 || len(c.Env) > 0 || len(c.Entrypoint) > 0 || c.WorkingDir != "" || c.User != "" || len(c.Labels) > 0 {
				cfg = &c
			}
		}
		pause := q.Get("pause") == "" || boolValue(r, "pause")
		id, err := s.backend.ContainerCommit(r.Context(), q.Get("container"), q.Get("repo"), q.Get("tag"), q.Get("comment"), q.Get("author"), q["changes"], pause, cfg)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusCreated, map[string]string{"Id": id})
	})
	s.handle("GET /containers/{id}/changes", func(w http.ResponseWriter, r *http.Request) error {
		ch, err := s.backend.ContainerChanges(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, ch)
	})
	s.handle("GET /containers/{id}/stats", func(w http.ResponseWriter, r *http.Request) error {
		stream := r.URL.Query().Get("stream") == "" || boolValue(r, "stream")
		started := false
		enc := json.NewEncoder(w)
		flusher, _ := w.(http.Flusher)
		err := s.backend.ContainerStats(r.Context(), r.PathValue("id"), stream, oneShot(r), func(st container.StatsResponse) error {
			statsVersion(r.Context(), &st)
			if !started {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				started = true
			}
			if err := enc.Encode(st); err != nil {
				return err
			}
			if flusher != nil {
				flusher.Flush()
			}
			return nil
		})
		if started {
			return nil
		}
		return err
	})
	s.handle("GET /containers/{id}/trace", func(w http.ResponseWriter, r *http.Request) error {
		t, err := s.backend.ContainerTrace(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, t)
	})
	s.handle("GET /exec/{id}/json", func(w http.ResponseWriter, r *http.Request) error {
		e, err := s.backend.ContainerExecInspect(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, e)
	})
	s.handle("POST /exec/{id}/resize", func(w http.ResponseWriter, r *http.Request) error {
		h, wd, err := resizeSize(r)
		if err != nil {
			return err
		}
		return s.backend.ContainerExecResize(r.Context(), r.PathValue("id"), h, wd)
	})
}

// resizeSize reads a resize's h and w as dockerd does (strconv.Atoi, its
// message).
func resizeSize(r *http.Request) (height, width uint16, err error) {
	var n [2]int
	for i, k := range []string{"h", "w"} {
		if n[i], err = strconv.Atoi(r.URL.Query().Get(k)); err != nil {
			return 0, 0, fmt.Errorf("%w: %w", err, errdefs.ErrInvalidArgument)
		}
		if n[i] < 0 || n[i] > math.MaxUint16 {
			return 0, 0, fmt.Errorf("%s=%d: a terminal's size is 0 to %d: %w", k, n[i], math.MaxUint16, errdefs.ErrInvalidArgument)
		}
	}
	return uint16(n[0]), uint16(n[1]), nil
}

// execStart runs an exec, detached or on the hijacked connection. As
// dockerd, the start request's Tty (not the exec's) says whether the
// streams are framed, and an exec that cannot start is told on the stream,
// as stdout, followed by "\r\n" (a detached one answers the error).
func (s *Server) execStart(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var req container.ExecStartRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
	}
	execStartVersion(r.Context(), &req)
	if _, err := s.backend.ExecTTY(id); err != nil {
		return err // no such exec: answered before the connection is taken
	}
	if req.Detach {
		if err := s.backend.ContainerExecStart(r.Context(), id, req.ConsoleSize, nil, nil, nil); err != nil {
			return err
		}
		w.WriteHeader(http.StatusOK)
		return nil
	}
	conn, buf, err := hijack(w, r, req.Tty)
	if err != nil {
		return err
	}
	defer conn.Close()
	var mu sync.Mutex
	locked := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return conn.Write(p) })
	var stdout, stderr io.Writer = locked, locked
	if !req.Tty {
		stdout, stderr = newFramedWriter(locked, streamStdout), newFramedWriter(locked, streamStderr)
	}
	stdin := io.MultiReader(bufferedPart(buf), conn)
	if err := s.backend.ContainerExecStart(context.WithoutCancel(r.Context()), id, req.ConsoleSize, stdin, stdout, stderr); err != nil {
		io.WriteString(stdout, publicMessage(err)+"\r\n")
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}

// containerWait answers its headers at once (the docker CLI waits for them
// before it starts the container), then the status.
func (s *Server) containerWait(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.backend.ContainerWait(r.Context(), r.PathValue("id"), r.URL.Query().Get("condition"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	resp, ok := <-ch
	if !ok {
		return nil
	}
	return json.NewEncoder(w).Encode(resp)
}

// containerAttach hijacks the connection: 101 UPGRADED when the client
// asks to upgrade, then the raw stream with a TTY or stdcopy frames
// without one; the client's half-close ends the container's stdin.
func (s *Server) containerAttach(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	conn, buf, err := takeConn(w)
	if err != nil {
		return err
	}
	defer conn.Close()
	info, err := s.backend.ContainerInspect(r.Context(), id)
	if err != nil {
		writeRawError(conn, err)
		return nil
	}
	tty := info.Config != nil && info.Config.Tty
	// The head goes out once the daemon has registered the attach: a
	// client that starts the container when it has the head misses no
	// output.
	headWritten := false
	attached := func() {
		if err := writeStreamHead(conn, w, r, tty); err == nil {
			headWritten = true
		}
	}
	var out io.Writer = conn
	var mu sync.Mutex // stdcopy frames from two goroutines must not interleave
	locked := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	var stdin io.Reader
	var stdout, stderr io.Writer
	if boolValue(r, "stdout") {
		stdout = locked
		if !tty {
			stdout = newFramedWriter(locked, streamStdout)
		}
	}
	if boolValue(r, "stderr") {
		stderr = locked
		if !tty {
			stderr = newFramedWriter(locked, streamStderr)
		}
	}
	if boolValue(r, "stdin") {
		stdin = io.MultiReader(bufferedPart(buf), conn)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	if stdin == nil {
		// The docker CLI half-closes a connection it sends nothing on; a
		// read error (not EOF) says the client went away.
		go func() {
			if _, err := io.Copy(io.Discard, conn); err != nil {
				cancel()
			}
		}()
	}
	err = s.backend.ContainerAttach(ctx, id, boolValue(r, "logs"), boolValue(r, "stream"), r.URL.Query().Get("detachKeys"), stdin, stdout, stderr, attached)
	if !headWritten {
		if err == nil {
			err = fmt.Errorf("attach to %s: %w", id, errdefs.ErrConflict)
		}
		writeRawError(conn, err)
		return nil
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(locked, "Error attaching: %v\n", err)
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// bufferedPart is what the HTTP server read past the request's headers.
func bufferedPart(b *bufio.ReadWriter) io.Reader {
	n := b.Reader.Buffered()
	if n == 0 {
		return strings.NewReader("")
	}
	p, _ := b.Reader.Peek(n)
	return strings.NewReader(string(p))
}

// hijack takes the connection from the HTTP server and writes the answer's
// head: 101 UPGRADED if the client asked to upgrade, 200 otherwise.
func hijack(w http.ResponseWriter, r *http.Request, tty bool) (net.Conn, *bufio.ReadWriter, error) {
	conn, buf, err := takeConn(w)
	if err != nil {
		return nil, nil, err
	}
	if err := writeStreamHead(conn, w, r, tty); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, buf, nil
}

// takeConn takes the connection from the HTTP server; nothing is written.
func takeConn(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("the connection cannot be hijacked: %w", errdefs.ErrInvalidArgument)
	}
	return hj.Hijack()
}

// writeStreamHead writes the head of a stream answer on a taken connection.
func writeStreamHead(conn net.Conn, w http.ResponseWriter, r *http.Request, tty bool) error {
	// As dockerd: a raw stream is announced unless the client upgraded
	// (then multiplexed without a TTY, from API 1.42).
	contentType := "application/vnd.docker.raw-stream"
	h := w.Header()
	head := "HTTP/1.1 200 OK\r\n"
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") || strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		head = "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
		contentType = streamContentType(r.Context(), tty)
	}
	head += "Content-Type: " + contentType + "\r\n"
	for _, k := range []string{"Api-Version", "Ostype", "Docker-Experimental", "Server"} {
		if v := h.Get(k); v != "" {
			head += k + ": " + v + "\r\n"
		}
	}
	_, err := conn.Write([]byte(head + "\r\n"))
	return err
}

// writeRawError answers err on a taken connection whose head is not
// written, as dockerd's attach does: the status and the message as text.
func writeRawError(conn net.Conn, err error) {
	code := statusOf(err)
	fmt.Fprintf(conn, "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n%s\r\n", code, http.StatusText(code), publicMessage(err))
}

// containerLogs streams the log: stdcopy frames unless the container has
// a TTY, with timestamps when asked.
func (s *Server) containerLogs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	// As dockerd: the streams are checked before the container is looked
	// up, and a tail that is not a number means all the lines.
	if !boolValue(r, "stdout") && !boolValue(r, "stderr") {
		return errdefs.Dockerf(errdefs.ErrInvalidArgument, "Bad parameters: you must choose at least one stream")
	}
	tail := -1
	if n, err := strconv.Atoi(q.Get("tail")); err == nil && n >= 0 {
		tail = n
	}
	since, err := parseTime(q.Get("since"))
	if err == nil {
		var until time.Time
		until, err = parseTime(q.Get("until"))
		if err == nil {
			return s.containerLogStream(w, r, tail, since, until)
		}
	}
	// A wrong since or until is told after the container is found and
	// its log can be read, as dockerd checks them: a read of no line.
	reached := false
	lerr := s.backend.ContainerLogs(r.Context(), r.PathValue("id"), true, true, false, 0, time.Time{}, time.Time{},
		func(bool) { reached = true }, func(string, []byte, time.Time) error { return err })
	if lerr != nil && !reached {
		return lerr
	}
	return err
}

// containerLogStream answers a log request whose parameters are good.
func (s *Server) containerLogStream(w http.ResponseWriter, r *http.Request, tail int, since, until time.Time) error {
	timestamps := boolValue(r, "timestamps")
	var stdout, stderr io.Writer
	flusher, _ := w.(http.Flusher)
	started := func(tty bool) {
		ct := streamContentType(r.Context(), tty)
		stdout, stderr = w, w
		if !tty {
			stdout, stderr = newFramedWriter(w, streamStdout), newFramedWriter(w, streamStderr)
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		if flusher != nil {
			flusher.Flush()
		}
	}
	emit := func(stream string, line []byte, t time.Time) error {
		dst := stdout
		if stream == "stderr" {
			dst = stderr
		}
		if timestamps {
			line = append([]byte(t.UTC().Format(rfc3339NanoFixed)+" "), line...)
		}
		_, err := dst.Write(line)
		if flusher != nil {
			flusher.Flush()
		}
		return err
	}
	err := s.backend.ContainerLogs(r.Context(), r.PathValue("id"), boolValue(r, "stdout"), boolValue(r, "stderr"), boolValue(r, "follow"), tail, since, until, started, emit)
	if err != nil && stdout != nil {
		return nil // the answer has begun: nothing more can be said
	}
	return err
}

// rfc3339NanoFixed is the time of a log line with timestamps: always nine
// digits of fraction, as dockerd writes it (jsonmessage.RFC3339NanoFixed).
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// parseTime reads since/until: Unix seconds with an optional fraction. A
// value that is not one is refused with dockerd's words (its strconv error).
func parseTime(v string) (time.Time, error) {
	if v == "" || v == "0" {
		return time.Time{}, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
	}
	var ns int64
	if frac != "" {
		if _, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return time.Time{}, errdefs.Dockerf(errdefs.ErrInvalidArgument, "%s", err)
		}
		ns, _ = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	}
	return time.Unix(s, ns), nil
}
