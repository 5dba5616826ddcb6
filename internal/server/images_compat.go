package server

import (
	"encoding/json"

	"github.com/moby/moby/api/types/image"
)

// legacyImageConfig is the image Config's fields that API 1.49 and older
// show even when empty (moby's inspect_response.go), and 1.50–1.51 the
// fewer ones those show.
var (
	legacyImageConfig149 = map[string]any{
		"AttachStderr": false, "AttachStdin": false, "AttachStdout": false, "Cmd": nil, "Domainname": "",
		"Entrypoint": nil, "Env": nil, "Hostname": "", "Image": "", "Labels": nil, "OnBuild": nil,
		"OpenStdin": false, "StdinOnce": false, "Tty": false, "User": "", "Volumes": nil, "WorkingDir": "",
	}
	legacyImageConfig151 = map[string]any{
		"Cmd": nil, "Entrypoint": nil, "Env": nil, "Labels": nil, "OnBuild": nil, "User": "", "Volumes": nil, "WorkingDir": "",
	}
)

// inspectShape is GET /images/{name}/json's answer for API version v, as
// dockerd shapes it: VirtualSize before 1.44, Container and
// ContainerConfig before 1.45, Parent, Comment, DockerVersion and Author
// always and the image Config's empty fields before 1.52 (Parent and
// DockerVersion after only when set).
func inspectShape(img image.InspectResponse, legacy map[string]any, v string) any {
	if img.RepoTags == nil {
		img.RepoTags = []string{}
	}
	if img.RepoDigests == nil {
		img.RepoDigests = []string{}
	}
	if versionLess(v, "1.48") {
		img.Descriptor = nil
	}
	if versionLess(v, "1.53") {
		img.Identity = nil
	}
	extra := map[string]any{}
	if versionLess(v, "1.44") {
		extra["VirtualSize"] = img.Size
		if img.Created == "" {
			img.Created = "0001-01-01T00:00:00Z"
		}
	}
	if versionLess(v, "1.45") {
		extra["Container"] = legacy["Container"]
		cc := legacy["ContainerConfig"]
		if cc == nil {
			cc = legacyImageConfig149
		}
		extra["ContainerConfig"] = cc
	}
	if versionLess(v, "1.52") {
		extra["Parent"] = legacy["Parent"]
		extra["Comment"] = img.Comment
		extra["DockerVersion"] = legacy["DockerVersion"]
		extra["Author"] = img.Author
		if versionLess(v, "1.50") {
			extra["Config"] = legacyImageConfig149
		} else {
			extra["Config"] = legacyImageConfig151
		}
	} else {
		for _, k := range []string{"Parent", "DockerVersion"} {
			if s, _ := legacy[k].(string); s != "" {
				extra[k] = s
			}
		}
	}
	b, err := json.Marshal(img)
	if err != nil {
		return img
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return img
	}
	addMissing(out, extra)
	return out
}

// addMissing adds src's fields to dst where dst has none or null,
// recursively into objects, as moby's compat wrapper does.
func addMissing(dst, src map[string]any) {
	for k, v := range src {
		if vm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				addMissing(dm, vm)
				continue
			}
		}
		if cur, ok := dst[k]; !ok || cur == nil {
			if vm, ok := v.(map[string]any); ok {
				// A copy: the defaults are shared.
				c := make(map[string]any, len(vm))
				addMissing(c, vm)
				v = c
			}
			dst[k] = v
		}
	}
}
