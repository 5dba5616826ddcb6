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
		tcs("system/auth/bad-json", post("/auth", "{")),
		// docker login against a registry on the loopback ({reg}: basic
		// authentication, user conf, password conf-pw).
		tcs("system/auth/ok", post("/auth", obj{"username": "conf", "password": "conf-pw", "serveraddress": "{reg}"})),
		tcs("system/auth/ok-with-scheme", post("/auth", obj{"username": "conf", "password": "conf-pw", "serveraddress": "http://{reg}/"})),
		// dockerd answers these with 500 (a registry that refuses, or is
		// not there): compared with it, not run alone at newer versions.
		tcs("system/auth/wrong-password", post("/auth", obj{"username": "conf", "password": "nope", "serveraddress": "{reg}"})).only141(),
		tcs("system/auth/no-credentials", post("/auth", obj{"serveraddress": "{reg}"})).only141(),
		tcs("system/auth/unreachable", post("/auth", obj{"username": "conf", "password": "conf-pw", "serveraddress": "127.0.0.1:1"})).only141(),
		tcs("system/auth/sdk", sdk("RegistryLogin", func(ctx context.Context, c *client.Client, x func(string) string) (any, error) {
			r, err := c.RegistryLogin(ctx, client.RegistryLoginOptions{Username: "conf", Password: "conf-pw", ServerAddress: x("{reg}")})
			return r.Auth, err
		})),
		tcs("system/build-prune", emptyBuildCache(), post("/build/prune", nil)),
		tcs("system/session/no-upgrade", post("/session", nil)).only141(),
		tcs("system/session/bad-proto", post("/session", nil).header("Upgrade", "conf-proto")).only141(),
		tcs("system/plugins/list-filter-enabled", get("/plugins?"+filters("enabled", "true"))),
		tcs("system/plugins/list-filter-enabled-bad", get("/plugins?"+filters("enabled", "maybe"))),
	}
}
