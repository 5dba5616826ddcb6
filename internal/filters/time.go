package filters

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hullproject/hull/internal/errdefs"
)

// ParseTime reads an until (or since) filter value as dockerd does: a Go
// duration before now ("1h", "10m30s"), an RFC 3339 time or date
// (2006-01-02T15:04:05Z07:00 and its shorter forms; without a zone, in
// now's), or Unix seconds with an optional fraction. Errors are of kind
// InvalidArgument, worded as dockerd 20.10 (legacy) or today's.
func ParseTime(value string, now time.Time, legacy bool) (time.Time, error) {
	if !legacy && strings.TrimSpace(value) == "" {
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "failed to parse value as time or duration: value is empty")
	}
	if d, err := time.ParseDuration(value); value != "0" && err == nil {
		t := now.Add(-d)
		if legacy {
			t = t.Truncate(time.Second) // 20.10 kept whole seconds
		}
		return t.UTC(), nil
	}
	// Without a Z, a + or a zone's dash, the time is in now's zone.
	inLocation := !strings.ContainsAny(value, "zZ+") && strings.Count(value, "-") != 3
	var layout string
	switch {
	case strings.Contains(value, "."):
		layout = time.RFC3339Nano
		if inLocation {
			layout = "2006-01-02T15:04:05.999999999"
		}
	case strings.Contains(value, "T"):
		colons := strings.Count(value, ":")
		if !inLocation && !strings.ContainsAny(value, "zZ") && colons > 0 {
			colons-- // the zone's +hh:mm
		}
		layouts := []string{"2006-01-02T15Z07:00", "2006-01-02T15:04Z07:00", time.RFC3339}
		if inLocation {
			layouts = []string{"2006-01-02T15", "2006-01-02T15:04", "2006-01-02T15:04:05"}
		}
		layout = layouts[min(colons, 2)]
	case inLocation:
		layout = "2006-01-02"
	default:
		layout = "2006-01-02Z07:00"
	}
	var t time.Time
	var err error
	if inLocation {
		t, err = time.ParseInLocation(layout, value, time.FixedZone(now.Zone()))
	} else {
		t, err = time.Parse(layout, value)
	}
	if err == nil {
		return t.UTC(), nil
	}
	if strings.Contains(value, "-") {
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "%s", err)
	}
	t, err = ParseUnix(value, legacy)
	if err != nil {
		if legacy {
			return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "failed to parse value as time or duration: %q", value)
		}
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "failed to parse value as time or duration: %s", err)
	}
	return t.UTC(), nil
}

// ParseUnix reads Unix seconds with an optional fraction of up to nine
// digits ("1700000000", "1700000000.5"), as the since and until
// parameters of /events are sent.
func ParseUnix(value string, legacy bool) (time.Time, error) {
	sec, frac, hasFrac := strings.Cut(value, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		if legacy {
			return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "%s", err)
		}
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "invalid seconds %q: %s", sec, err)
	}
	if !hasFrac || frac == "" {
		return time.Unix(s, 0), nil
	}
	if legacy {
		n, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "%s", err)
		}
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		for i := len(frac); i > 9; i-- {
			n /= 10
		}
		return time.Unix(s, n), nil
	}
	if len(frac) > 20 {
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "invalid nanoseconds: length %d exceeds maximum %d", len(frac), 20)
	}
	for i := range len(frac) {
		if c := frac[i]; c < '0' || c > '9' {
			return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "invalid nanoseconds: invalid character %q at position %d", c, i)
		}
	}
	frac = (frac + "000000000")[:9]
	n, _ := strconv.ParseInt(frac, 10, 64)
	return time.Unix(s, n), nil
}

// Until reads a prune's until filter: zero when absent; one value only.
func (a Args) Until(now time.Time) (time.Time, error) {
	vs := a.Get("until")
	if !a.Contains("until") {
		return time.Time{}, nil
	}
	if len(vs) > 1 {
		return time.Time{}, Errorf(errdefs.ErrInvalidArgument, "more than one until filter specified")
	}
	if len(vs) == 0 {
		vs = []string{""} // {"until":{}}: as an empty value
	}
	return ParseTime(vs[0], now, a.legacy)
}
