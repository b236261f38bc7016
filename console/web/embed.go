package web

import "embed"

// FS holds the console's static assets under static/.
//
//go:embed static
var FS embed.FS
