package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/gatehouse-auth/gatehouse/proxy/brand"
)

// Static serves the gateway's stylesheet, the login page's scripts and
// the brand's files (mounted under /.gatehouse/static/ with the prefix
// stripped); nothing else in the embedded tree is served.
func Static(b *brand.Brand) http.Handler {
	sub, err := fs.Sub(files, ".")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "brand/"); ok {
			b.ServeAsset(w, r, name)
			return
		}
		switch r.URL.Path {
		case "gatehouse.css", pwcryptScript.name, loginScript.name, codesScript.name, passkeyScript.name:
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
