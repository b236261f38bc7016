package streams

import (
	"errors"
	"fmt"

	"github.com/gregorhq/gregor/internal/observe"
)

// startHTTP serves the App's metrics, health and profiler at Config.HTTPAddr
// (nothing when it is empty); /readyz answers 200 once the App is RUNNING.
func (a *App) startHTTP() error {
	if a.cfg.HTTPAddr == "" {
		return nil
	}
	reg := observe.NewRegistry()
	if err := reg.Register(a.Collector()); err != nil {
		return fmt.Errorf("streams: metrics: %w", err)
	}
	srv, err := observe.Listen(observe.Config{Addr: a.cfg.HTTPAddr, Registry: reg, Logger: a.cfg.Logger,
		Ready: func() error {
			if s := a.state(); s != stateRunning {
				return errors.New(s)
			}
			return nil
		}})
	if err != nil {
		return fmt.Errorf("streams: %w", err)
	}
	a.http = srv
	a.cfg.Logger.Info("streams: metrics and health on http://"+srv.Addr(), "application.id", a.cfg.ApplicationID)
	return nil
}

// closeHTTP stops the listener of Config.HTTPAddr, if any.
func (a *App) closeHTTP() {
	if a.http != nil {
		_ = a.http.Close()
	}
}

// HTTPAddr is the address the App serves metrics and health on (Config.HTTPAddr with
// the port it picked), or "" when it serves none. It is set once Start has begun.
func (a *App) HTTPAddr() string {
	if a.http == nil {
		return ""
	}
	return a.http.Addr()
}
