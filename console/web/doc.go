// Package web holds the Gregor console's static assets (HTML, JavaScript
// and CSS, no build step), embedded in the binary as FS.
package web
