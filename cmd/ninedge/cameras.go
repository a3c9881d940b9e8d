package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ninedge/ninedge/cmd/internal/cli"
	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/mqttpub"
	"github.com/ninedge/ninedge/stream"
)

// camera is one --source: its name, spec, counters and, once opened, source.
type camera struct {
	name, spec string
	cnt        *stream.Counters
	src        stream.Source
}

// cameras reads the --source values: NAME=SPEC, or a bare SPEC named camN after its place.
// A spec whose text before its first "=" could not be a name (it holds "/" or ":", as URLs
// and paths do) is bare.
func (s *sourceFlags) cameras() ([]*camera, error) {
	var cams []*camera
	seen := map[string]bool{}
	stdin := 0
	for i, v := range s.specs {
		name, spec, ok := strings.Cut(v, "=")
		if !ok || mqttpub.CheckName(name) != nil {
			name, spec = fmt.Sprintf("cam%d", i+1), v
		}
		switch {
		case spec == "":
			return nil, cli.Usagef("--source %q: no source after the name", v)
		case seen[name]:
			return nil, cli.Usagef("--source: camera %q named twice", name)
		}
		if spec == "-" {
			if stdin++; stdin > 1 {
				return nil, cli.Usagef("--source -: stdin can feed one camera only")
			}
		}
		seen[name] = true
		cams = append(cams, &camera{name: name, spec: spec, cnt: new(stream.Counters)})
	}
	return cams, nil
}

// openSources reads and opens the --source cameras; stopped reports a stop asked for while
// one was connecting, which is no failure (the command ends with status 0).
func (s *sourceFlags) openSources(e *cli.Env, prog string) (cams []*camera, stopped bool, err error) {
	if cams, err = s.cameras(); err != nil {
		return nil, false, err
	}
	err = s.openCameras(e, cams)
	if stoppedConnecting(e, prog, err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return cams, false, nil
}

// openCameras opens every camera, or none: on an error the ones already open are closed.
func (s *sourceFlags) openCameras(e *cli.Env, cams []*camera) error {
	for _, c := range cams {
		src, err := s.open(e, c.spec, c.cnt)
		if err != nil {
			closeCameras(cams)
			if len(cams) > 1 {
				err = fmt.Errorf("camera %s: %w", c.name, err)
			}
			return err
		}
		c.src = src
	}
	return nil
}

func closeCameras(cams []*camera) {
	for _, c := range cams {
		if c.src != nil {
			_ = c.src.Close()
		}
	}
}

// runCameras are the cameras as stream.RunCameras takes them. A single camera goes unnamed
// unless named is set, so that `ninedge stream`'s lines stay as they were with one source.
func runCameras(cams []*camera, named bool) []stream.Camera {
	out := make([]stream.Camera, len(cams))
	for i, c := range cams {
		out[i] = stream.Camera{Name: c.name, Source: c.src, Counters: c.cnt}
		if len(cams) == 1 && !named {
			out[i].Name = ""
		}
	}
	return out
}

func cameraNames(cams []*camera) []string {
	names := make([]string, len(cams))
	for i, c := range cams {
		names[i] = c.name
	}
	return names
}

// live opens the model as a labeler that reloads in place, and applies --image-memory.
// Reloads run on the device the first load chose, without a new trial: a reload must not
// move the model elsewhere.
func (l *labelFlags) live(e *cli.Env) (*infer.Live, *infer.Classifier, error) {
	if l.top < 1 {
		return nil, nil, cli.Usagef("--top must be at least 1")
	}
	if err := l.RunFlags.Check(); err != nil {
		return nil, nil, err
	}
	rf := l.RunFlags
	var first *infer.Classifier
	live, err := infer.NewLive(l.Model, func() (*infer.Labeler, *infer.Classifier, error) {
		lab, c, err := l.open(e, rf)
		if err == nil && first == nil {
			first = c
			rf.Backend, rf.Device = c.Choice.Device.Backend, c.Choice.Device.Index
		}
		return lab, c, err
	})
	if err != nil {
		return nil, nil, err
	}
	// Measured with the first model loaded; a reload holds two models for a moment, which
	// the soft limit lets through.
	applyImageMemory(int64(l.imageMemory))
	return live, first, nil
}

// reloadOnSignal reloads the model at each SIGHUP (e.Reload) until done, with reload.
func reloadOnSignal(e *cli.Env, done <-chan struct{}, reload func()) {
	if e.Reload == nil {
		return
	}
	go func() {
		for {
			select {
			case <-e.Reload:
				reload()
			case <-done:
				return
			}
		}
	}()
}

// mqttFlags publish results to an MQTT broker, for stream and serve.
type mqttFlags struct {
	broker, user, passwordFile, clientID, topic, discovery, ca string
	every                                                      time.Duration
}

func (m *mqttFlags) add(fs *cli.FlagSet) {
	fs.StringVar(&m.broker, "mqtt", "", "publish results to this MQTT broker: tcp://host:1883 or ssl://host:8883")
	fs.StringVar(&m.user, "mqtt-user", "", "MQTT user name")
	fs.StringVar(&m.passwordFile, "mqtt-password-file", "", "file holding the MQTT password (kept off the command line)")
	fs.StringVar(&m.clientID, "mqtt-client-id", "", "MQTT client id and Home Assistant device id; each camera connects as ID-CAMERA (default ninedge-HOSTNAME)")
	fs.StringVar(&m.topic, "mqtt-topic", mqttpub.DefaultTopic, "topic prefix: results on PREFIX/CAMERA/result, status on PREFIX/CAMERA/status")
	fs.StringVar(&m.discovery, "mqtt-discovery", mqttpub.DefaultDiscovery, "Home Assistant discovery prefix (- for no discovery)")
	fs.DurationVar(&m.every, "mqtt-every", mqttpub.DefaultEvery, "publish a camera's result when its top label changes, else once per this period (0: every frame)")
	fs.StringVar(&m.ca, "mqtt-ca", "", "PEM file of the certificate authorities an ssl:// broker is checked against (default: the system's)")
}

// publisher connects to the broker (in the background) for the cameras; nil without --mqtt.
func (m *mqttFlags) publisher(e *cli.Env, model string, cams []string) (*mqttpub.Publisher, error) {
	if m.broker == "" {
		if m.user != "" || m.passwordFile != "" || m.clientID != "" || m.ca != "" {
			return nil, cli.Usagef("--mqtt-user, --mqtt-password-file, --mqtt-client-id and --mqtt-ca need --mqtt")
		}
		return nil, nil
	}
	cfg := mqttpub.Config{Broker: m.broker, ClientID: m.clientID, User: m.user, Topic: m.topic, Discovery: m.discovery,
		Every: m.every, Model: filepath.Base(model), Version: buildVersion(), Log: e.Stderr}
	if m.passwordFile != "" {
		b, err := os.ReadFile(m.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("--mqtt-password-file: %w", err)
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if m.ca != "" {
		pem, err := os.ReadFile(m.ca)
		if err != nil {
			return nil, fmt.Errorf("--mqtt-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--mqtt-ca %s: no PEM certificate in it", m.ca)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	p, err := mqttpub.New(cfg, cams)
	if err != nil {
		return nil, cli.Usagef("%v", err)
	}
	return p, nil
}

// buildVersion is the module version Go stamped into the binary ("(devel)" in a work tree).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
