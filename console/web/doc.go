// Package web holds the Gregor console's browser front end as embedded static
// files: a single-page app written in plain HTML, CSS and ES-module JavaScript,
// with no build step and no framework.
//
// The files live under static/ and are exposed as [FS]; the console package
// serves them at "/" and the JSON API they call under "/api". For example:
//
//	sub, _ := fs.Sub(web.FS, "static")
//	http.Handle("/", http.FileServer(http.FS(sub)))
package web
