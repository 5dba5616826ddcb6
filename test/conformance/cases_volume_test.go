package conformance

import (
	"context"
	"strings"

	"github.com/moby/moby/client"
)

func mkVol(name string, body obj) *step {
	b := obj{"Name": "conf-" + name}
	for k, v := range body {
		b[k] = v
	}
	return post("/volumes/create", b).asSetup()
}

func volumeCases() []*tcase {
	list := func(query string) *step { return get("/volumes?" + query).anyOrder("Volumes") }
	inspect := func(name string) *step { return get("/volumes/" + name) }
	return []*tcase{
		tcs("volume/create/named", post("/volumes/create", obj{"Name": "conf-v"}), inspect("conf-v")),
		tcs("volume/create/anonymous", post("/volumes/create", obj{}).capture("v", "Name"), inspect("{v}")),
		tcs("volume/create/empty-body", post("/volumes/create", nil)),
		tcs("volume/create/labels-opts", post("/volumes/create", obj{"Name": "conf-v", "Labels": obj{"k": "v"},
			"DriverOpts": obj{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}), inspect("conf-v")),
		tcs("volume/create/existing", mkVol("v", obj{"Labels": obj{"first": "1"}}), post("/volumes/create", obj{"Name": "conf-v", "Labels": obj{"second": "2"}})),
		tcs("volume/create/bad-name", post("/volumes/create", obj{"Name": "bad/name"})),
		tcs("volume/create/bad-name-chars", post("/volumes/create", obj{"Name": "a"})),
		tcs("volume/create/bad-driver", post("/volumes/create", obj{"Name": "conf-v", "Driver": "conf-noplugin"})).only141(),
		tcs("volume/create/bad-opt", post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"bogus": "1"}})),
		tcs("volume/create/bad-json", post("/volumes/create", "{")),
		tcs("volume/create/name-too-long", post("/volumes/create", obj{"Name": strings.Repeat("v", 300)})),
		tcs("volume/create/text-content-type", post("/volumes/create", obj{"Name": "conf-v"}).ctypeIs("text/plain")),
		// The local driver's options (dockerd's local driver: type, device, o, size).
		tcs("volume/create/opt-missing-device", post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"type": "tmpfs"}})),
		tcs("volume/create/opt-o-alone", post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"o": "size=1m"}})),
		tcs("volume/create/opt-size", post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"size": "1m"}})),
		tcs("volume/create/opt-size-bad", post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"size": "abc"}})),
		tcs("volume/create/existing-bad-opt", mkVol("v", nil), post("/volumes/create", obj{"Name": "conf-v", "DriverOpts": obj{"bogus": "1"}})),
		tcs("volume/create/mount-volume-opt", mk("a", hc(obj{"Mounts": []obj{{"Type": "volume", "Source": "conf-mv", "Target": "/data",
			"VolumeOptions": obj{"DriverConfig": obj{"Options": obj{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}}}}})), inspect("conf-mv")),
		tcs("volume/create/sdk", sdk("VolumeCreate", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: "conf-v", Labels: map[string]string{"sdk": "1"}})
			return r.Volume, err
		})),

		tcs("volume/list/empty", list("")),
		tcs("volume/list/some", mkVol("a", nil), mkVol("b", obj{"Labels": obj{"k": "v"}}), list("")),
		tcs("volume/list/filter-name", mkVol("a", nil), mkVol("b", nil), list(filters("name", "conf-a"))),
		tcs("volume/list/filter-dangling-true", mkVol("a", nil), mk("c", hc(obj{"Binds": []string{"conf-b:/x"}})), list(filters("dangling", "true"))),
		tcs("volume/list/filter-dangling-false", mkVol("a", nil), mk("c", hc(obj{"Binds": []string{"conf-b:/x"}})), list(filters("dangling", "false"))),
		tcs("volume/list/filter-dangling-bad", list(filters("dangling", "maybe"))),
		tcs("volume/list/filter-driver", mkVol("a", nil), list(filters("driver", "local"))),
		tcs("volume/list/filter-label", mkVol("a", obj{"Labels": obj{"k": "v"}}), mkVol("b", nil), list(filters("label", "k=v"))),
		tcs("volume/list/filter-label-key", mkVol("a", obj{"Labels": obj{"k": "v"}}), mkVol("b", nil), list(filters("label", "k"))),
		tcs("volume/list/filter-label-two", mkVol("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mkVol("b", obj{"Labels": obj{"k": "v"}}), mkVol("c", obj{"Labels": obj{"j": "w"}}),
			list(filters("label", "k=v", "label", "j"))),
		tcs("volume/list/filter-malformed", get("/volumes?filters="+q("{bad"))),
		tcs("volume/list/filter-label-not", list(filters("label!", "k"))),
		tcs("volume/list/filter-name-regexp", mkVol("a", nil), mkVol("ab", nil), list(filters("name", "^conf-a$"))),
		tcs("volume/list/filter-unknown", list(filters("nope", "1"))),

		tcs("volume/inspect/missing", inspect("conf-nope")),
		tcs("volume/inspect/sdk-missing", sdk("VolumeInspect", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			return c.VolumeInspect(ctx, "conf-nope", client.VolumeInspectOptions{})
		})),

		tcs("volume/rm/ok", mkVol("v", nil), del("/volumes/conf-v"), inspect("conf-v")),
		tcs("volume/rm/missing", del("/volumes/conf-nope")),
		tcs("volume/rm/missing-force", del("/volumes/conf-nope?force=1")),
		tcs("volume/rm/in-use", mkVol("v", nil), mk("a", hc(obj{"Binds": []string{"conf-v:/x"}})), del("/volumes/conf-v")),
		tcs("volume/rm/in-use-force", mkVol("v", nil), mk("a", hc(obj{"Binds": []string{"conf-v:/x"}})), del("/volumes/conf-v?force=1")),

		tcs("volume/prune/unused", mkVol("a", nil), mkVol("b", nil), mk("c", hc(obj{"Binds": []string{"conf-b:/x"}})),
			post("/volumes/prune", nil).vol("SpaceReclaimed").anyOrder("VolumesDeleted"), list("")),
		tcs("volume/prune/anonymous", post("/volumes/create", nil).asSetup(), mkVol("named", nil), post("/volumes/prune", nil).vol("SpaceReclaimed").anyOrder("VolumesDeleted")),
		tcs("volume/prune/label", mkVol("a", obj{"Labels": obj{"k": "v"}}), mkVol("b", nil), post("/volumes/prune?"+filters("label", "k=v"), nil).vol("SpaceReclaimed"), list("")),
		tcs("volume/prune/label-not", mkVol("a", obj{"Labels": obj{"k": "v"}}), mkVol("b", nil), post("/volumes/prune?"+filters("label!", "k"), nil).vol("SpaceReclaimed"), list("")),
		tcs("volume/prune/label-two", mkVol("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mkVol("b", obj{"Labels": obj{"k": "v"}}),
			post("/volumes/prune?"+filters("label", "k=v", "label", "j=w"), nil).vol("SpaceReclaimed"), list("")),
		tcs("volume/prune/label-not-two", mkVol("a", obj{"Labels": obj{"k": "v", "j": "w"}}), mkVol("b", obj{"Labels": obj{"k": "v"}}),
			post("/volumes/prune?"+filters("label!", "k=v", "label!", "j=w"), nil).vol("SpaceReclaimed"), list("")),
		tcs("volume/prune/until", mkVol("a", nil), post("/volumes/prune?"+filters("until", "1h"), nil)),
		tcs("volume/prune/all", mkVol("a", nil), post("/volumes/prune?"+filters("all", "true"), nil)),
		tcs("volume/prune/filter-malformed", post("/volumes/prune?filters="+q("{bad"), nil)),
		tcs("volume/prune/filter-unknown", post("/volumes/prune?"+filters("nope", "1"), nil)),

		tcs("volume/use/mounts-in-inspect", mkVol("v", nil), mk("a", hc(obj{"Binds": []string{"conf-v:/data:ro"}})), get("/containers/{a}/json").pick("Mounts")),
		tcs("volume/use/shared", mkVol("v", nil), mkExited("a", hc(obj{"Binds": []string{"conf-v:/data"}}), "sh", "-c", "echo shared > /data/f"),
			mkExited("b", hc(obj{"Binds": []string{"conf-v:/data"}}), "cat", "/data/f"), logs("b")),
		tcs("volume/use/copy-up-from-image", mkExited("a", obj{"Image": imgRich, "Entrypoint": []string{"cat"}, "Cmd": []string{"/data/seed.txt"},
			"HostConfig": obj{"Binds": []string{"conf-v:/data"}}}), logs("a"), inspect("conf-v").pick("Name", "Driver", "Labels", "Options", "Scope")),
		tcs("volume/use/anonymous-from-image", mkExited("a", obj{"Image": imgRich, "Entrypoint": []string{"ls"}, "Cmd": []string{"/data"}}), logs("a"),
			get("/containers/{a}/json").pick("Mounts")),
		tcs("volume/use/created-by-run", mk("a", hc(obj{"Binds": []string{"conf-auto:/x"}})), inspect("conf-auto")),
		tcs("volume/use/tmpfs-driver-opts", mkVol("v", obj{"DriverOpts": obj{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}),
			mkExited("a", hc(obj{"Binds": []string{"conf-v:/data"}}), "sh", "-c", "grep ' /data ' /proc/mounts | cut -d' ' -f1,3"), logs("a")),
		tcs("volume/use/tmpfs-mount-fails", mkVol("v", obj{"DriverOpts": obj{"type": "tmpfs", "device": "tmpfs", "o": "bogus=1"}}),
			mk("a", hc(obj{"Binds": []string{"conf-v:/data"}})), post("/containers/{a}/start", nil), get("/containers/{a}/json").pick("State.Status", "State.Running")),
		tcs("volume/use/bind-host-file", mkExited("a", hc(obj{"Binds": []string{"/etc/hostname:/conf-h:ro"}}), "sh", "-c", "test -s /conf-h && echo present"), logs("a")),
		// A legacy volume plugin (VolumeDriver over a socket in /run/docker/plugins).
		tcs("volume/plugin/create", post("/volumes/create", obj{"Name": "conf-pv", "Driver": volumePluginName, "DriverOpts": obj{"size": "1"}}),
			inspect("conf-pv")),
		tcs("volume/plugin/list", mkVol("pv", obj{"Driver": volumePluginName}), mkVol("lv", nil), list(""), list(filters("driver", volumePluginName))),
		// A plugin that refuses is the driver's failure, not bad input:
		// dockerd answers 500 (moby too). Compared with it, not run alone at
		// newer versions, where any 5xx is a problem.
		tcs("volume/plugin/refused", post("/volumes/create", obj{"Name": "conf-pv", "Driver": volumePluginName, "DriverOpts": obj{"fail": "no room"}})).only141(),
		tcs("volume/plugin/rm", mkVol("pv", obj{"Driver": volumePluginName}), del("/volumes/conf-pv"), inspect("conf-pv")),
		tcs("volume/plugin/run", mkExited("a", hc(obj{"Binds": []string{"conf-pv:/data"}, "VolumeDriver": volumePluginName}), "sh", "-c", "echo via-plugin > /data/f; cat /data/f"),
			logs("a"), get("/containers/{a}/json").pick("Mounts", "HostConfig"), inspect("conf-pv").pick("Driver", "Name")),
		tcs("volume/plugin/mount", mkVol("pv", obj{"Driver": volumePluginName}),
			mkExited("a", hc(obj{"Mounts": []obj{{"Type": "volume", "Source": "conf-pv", "Target": "/data"}}}), "sh", "-c", "ls -d /data && echo ok"), logs("a")),
		tcs("volume/use/missing-driver-on-run", create("a", obj{"HostConfig": obj{"Binds": []string{"conf-v:/x"}, "VolumeDriver": "conf-noplugin"}})).only141(),
	}
}
