package web

import "embed"

// FS holds the console's single-page app: everything under static/ (index.html,
// the ES modules and the style sheet), served by the console package at "/".
//
//go:embed static
var FS embed.FS
