package conformance

import (
	"context"

	"github.com/moby/moby/client"
)

func systemCases() []*tcase {
	return []*tcase{
		tcs("system/ping/get", get("/_ping")),
		tcs("system/ping/head", head("/_ping")),
		tcs("system/ping/unversioned", get("/_unversioned/_ping")),
		tcs("system/ping/post", post("/_ping", nil)),
		tcs("system/ping/sdk", sdk("Ping", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.Ping(ctx, client.PingOptions{})
			return obj{"OSType": r.OSType, "Experimental": r.Experimental}, err
		})),
		tcs("system/version", get("/version")),
		tcs("system/version/v1.24", get("/_unversioned/v1.24/version")).only141(),
		tcs("system/version/1.12", get("/_unversioned/v1.12/version")).only141(),
		tcs("system/version/too-old", get("/_unversioned/v1.11/version")).only141(),
		tcs("system/version/too-new", get("/_unversioned/v1.99/version")).only141(),
		tcs("system/version/not-a-version", get("/_unversioned/v1.x/version")).only141(),
		tcs("system/info", get("/info")),
		tcs("system/info/v1.24", get("/_unversioned/v1.24/info")).only141(),
		tcs("system/info/counts", mk("a", nil), mkRunning("b", nil), get("/info").pick("Containers*", "Images")),
		tcs("system/unknown-route", get("/no/such/route")),
		tcs("system/unknown-route/unversioned", get("/_unversioned/no/such/route")),
		tcs("system/unknown-method", req("PUT", "/containers/json", nil)),
		tcs("system/unknown-method/delete-ping", del("/_ping")),
		tcs("system/df", get("/system/df").anyOrder("Images")),
		tcs("system/df/with-objects", mkRunning("a", obj{"Volumes": obj{"/v": obj{}}}),
			post("/volumes/create", obj{"Name": "conf-v"}).asSetup(),
			get("/system/df").anyOrder("Images", "Volumes", "Containers")),
		tcs("system/plugins/list", get("/plugins")),
		tcs("system/plugins/inspect-missing", get("/plugins/conf-nope/json")),
		tcs("system/plugins/remove-missing", del("/plugins/conf-nope")),
		tcs("system/plugins/enable-missing", post("/plugins/conf-nope/enable", nil)),
		tcs("system/plugins/list-filter-bad", get("/plugins?"+filters("nope", "x"))),
		tcs("system/auth/missing-body", post("/auth", "")),
		tcs("system/build-prune", post("/build/prune", nil)),
		tcs("system/session/no-upgrade", post("/session", nil)).only141(),
	}
}
