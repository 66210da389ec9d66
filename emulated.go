package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/rs/zerolog"

	"github.com/hubprov/hubprov/internal/safefile"
	"github.com/hubprov/hubprov/manifest"
	"github.com/hubprov/hubprov/provision/emulator"
)

// emulatorState is where --emulate keeps the emulator's instances between
// runs, so a second run sees what the first created.
const emulatorState = ".hubprov-emulator.json"

// emulated is the in-process emulator behind --emulate.
type emulated struct {
	e   *emulator.Emulator
	srv *emulator.Server
}

// maxEmulatorState bounds the emulator's state file.
const maxEmulatorState = 1 << 30

// startEmulated serves an emulator on a random loopback port that accepts the
// manifest's credentials, loaded with the state of earlier --emulate runs.
func startEmulated(m *manifest.Manifest, log zerolog.Logger) (*emulated, error) {
	c := m.Target.Credentials
	opts := emulator.Options{
		User: c.User.Reveal(), Organization: c.Organization.Reveal(),
		FlowToken: c.AccessToken.Reveal(), FlowAPIKey: c.APIKey.Reveal(), FlowIMSOrg: c.IMSOrg,
	}
	e := emulator.New(opts)
	f, err := safefile.OpenReader(emulatorState, maxEmulatorState)
	switch {
	case err == nil:
		err = e.Restore(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w (delete it to start afresh)", emulatorState, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	srv, err := emulator.Start("127.0.0.1:0", e)
	if err != nil {
		return nil, err
	}
	log.Info().Str("addr", srv.Addr()).Str("state", emulatorState).Msg("--emulate: serving the built-in emulator on loopback")
	return &emulated{e: e, srv: srv}, nil
}

func (em *emulated) baseURL(p manifest.Platform) string {
	if p == manifest.AdobeFlow {
		return em.srv.FlowServiceURL()
	}
	return em.srv.CloudElementsURL()
}

// close stops the emulator and saves its state for the next run.
func (em *emulated) close() error {
	err := em.srv.Close()
	if werr := safefile.WriteAtomic(emulatorState, em.e.Snapshot); werr != nil && err == nil {
		err = werr
	}
	return err
}
