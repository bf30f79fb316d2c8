package web

import (
	"io/fs"
	"net/http"
)

// Static serves the gateway's stylesheet and the login page's password
// encryption script (mounted under /.gatehouse/static/ with the prefix
// stripped); nothing else in the embedded tree is served.
func Static() http.Handler {
	sub, err := fs.Sub(files, ".")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "gatehouse.css" && r.URL.Path != "pwcrypt.js" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}
