// Package mqttpub hands a run's results to an MQTT broker, where a home or a plant already
// listens: each camera's classified frames as JSON on PREFIX/CAMERA/result, a retained
// PREFIX/CAMERA/status ("online", and "offline" at a stop or, through the broker's last will,
// when ninedge dies), and Home Assistant discovery configs so that each camera appears there as
// a sensor without YAML. The camera loop never waits for the network: it hands a copy of the
// result to a bounded queue, dropping (and counting) what does not fit; a goroutine per camera
// publishes through Eclipse Paho, which reconnects to a broker that goes away.
package mqttpub

import (
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream"
)

// Defaults of Config.
const (
	DefaultTopic     = "ninedge"
	DefaultDiscovery = "homeassistant"
	DefaultEvery     = time.Second
	DefaultQueue     = 16
	DefaultQuiet     = 10 * time.Second
	// reconnectMax caps Paho's wait between reconnections (its own default is 10 minutes: far
	// too long for a broker that restarts).
	reconnectMax = 10 * time.Second
	// publishWait bounds the wait for a retained message's acknowledgement.
	publishWait = 5 * time.Second
)

// Status payloads.
const (
	Online  = "online"
	Offline = "offline"
)

// Config says where and what to publish.
type Config struct {
	// Broker is tcp://host:1883, ssl://host:8883 (also mqtt://, mqtts://, ws://, wss://).
	Broker string
	// ClientID names this device: each camera connects as CLIENTID-CAMERA (one connection
	// per camera, so that each has its own last will); "" means ninedge-HOSTNAME.
	ClientID       string
	User, Password string
	TLS            *tls.Config // for ssl:// and wss:// (nil: the system's roots)
	// Topic is the prefix of the result and status topics ("": DefaultTopic).
	Topic string
	// Discovery is Home Assistant's discovery prefix ("": DefaultDiscovery; "-": no discovery).
	Discovery string
	// Every is the longest a camera's label stays unpublished: a result is published when its
	// top label differs from the last one published, or Every after it (0: every result).
	Every time.Duration
	// Queue is each camera's queue of results waiting for the network (0: DefaultQueue).
	Queue int
	// Quiet is how long a camera may send no frame before its status says offline (a camera
	// that dropped and is being reconnected); its next frame says online again (0:
	// DefaultQuiet).
	Quiet time.Duration
	// Model and Version describe the device to Home Assistant.
	Model, Version string
	// Log receives connections, losses and failures; nil discards them.
	Log io.Writer
}

// Names of cameras and client ids: they become MQTT topic levels and Home Assistant ids,
// where wildcards, slashes and spaces have meanings of their own.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// CheckName refuses a camera name that cannot be a topic level and a Home Assistant id.
func CheckName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("name %q: use 1 to 64 letters, digits, '-' or '_'", name)
	}
	return nil
}

// Counters are a camera's publishing totals, safe to read while it runs (for /metrics).
type Counters struct {
	Published, Dropped, Lost atomic.Int64 // results sent; results dropped (queue full or broker away); connections lost
	Connected                atomic.Bool
}

// Publisher publishes the results of a fixed set of cameras.
type Publisher struct {
	cfg  Config
	cams map[string]*camera
	only *camera // the one camera, when there is one
	wg   sync.WaitGroup
	stop chan struct{}
	once sync.Once
	log  *logger
}

// camera is one camera's connection and queue.
type camera struct {
	name                          string
	result, status, discoveryPath string
	discovery                     []byte
	client                        mqtt.Client
	cnt                           Counters
	queue, free                   chan *message
	// Used by the camera loop only.
	last   string
	lastAt time.Time
	// seen is when the camera loop last handed over a frame (Unix ns); quiet is set while
	// the status says offline because it has not for Config.Quiet.
	seen  atomic.Int64
	quiet atomic.Bool
}

// message is a result copied out of the camera loop, whose buffers are reused.
type message struct {
	res stream.Result
	top []infer.Class
}

// New checks cfg, and starts connecting every camera's client in the background: a broker
// that is down when ninedge starts is waited for, like one that goes away later.
func New(cfg Config, cameras []string) (*Publisher, error) {
	u, err := url.Parse(cfg.Broker)
	if err != nil {
		return nil, fmt.Errorf("--mqtt: %w", err)
	}
	switch u.Scheme {
	case "tcp", "ssl", "mqtt", "mqtts", "tls", "ws", "wss":
	default:
		return nil, fmt.Errorf("--mqtt %s: want tcp://host:1883 or ssl://host:8883", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("--mqtt %s: no host", u.Redacted())
	}
	if cfg.ClientID == "" {
		host, _ := os.Hostname()
		cfg.ClientID = "ninedge-" + regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(cmp.Or(host, "device"), "_")
	}
	if err := CheckName(cfg.ClientID); err != nil {
		return nil, fmt.Errorf("--mqtt-client-id: %w", err)
	}
	cfg.Topic = strings.TrimSuffix(cmp.Or(cfg.Topic, DefaultTopic), "/")
	if cfg.Topic == "" || strings.ContainsAny(cfg.Topic, "+#") {
		return nil, fmt.Errorf("--mqtt-topic %q: want a topic prefix without wildcards", cfg.Topic)
	}
	cfg.Discovery = cmp.Or(cfg.Discovery, DefaultDiscovery)
	if cfg.Every < 0 {
		return nil, errors.New("--mqtt-every must not be negative")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Quiet <= 0 {
		cfg.Quiet = DefaultQuiet
	}
	p := &Publisher{cfg: cfg, cams: map[string]*camera{}, stop: make(chan struct{}), log: &logger{w: cfg.Log}}
	for _, name := range cameras {
		if err := CheckName(name); err != nil {
			return nil, fmt.Errorf("camera %w", err)
		}
		if p.cams[name] != nil {
			return nil, fmt.Errorf("camera %q given twice", name)
		}
		c := &camera{name: name, result: cfg.Topic + "/" + name + "/result", status: cfg.Topic + "/" + name + "/status",
			queue: make(chan *message, cfg.Queue), free: make(chan *message, cfg.Queue)}
		for range cfg.Queue {
			c.free <- &message{}
		}
		if cfg.Discovery != "-" {
			c.discoveryPath, c.discovery = discovery(cfg, name, c.result, c.status)
		}
		p.cams[name] = c
	}
	if len(p.cams) == 1 {
		p.only = p.cams[cameras[0]]
	}
	broker := u.Redacted()
	for _, c := range p.cams {
		p.connect(c, broker)
	}
	return p, nil
}

func (p *Publisher) connect(c *camera, broker string) {
	o := mqtt.NewClientOptions().AddBroker(p.cfg.Broker).SetClientID(p.cfg.ClientID+"-"+c.name).
		SetCleanSession(true).SetOrderMatters(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(reconnectMax).
		SetConnectTimeout(10*time.Second).SetWriteTimeout(publishWait).SetKeepAlive(30*time.Second).SetPingTimeout(10*time.Second).
		SetWill(c.status, Offline, 1, true)
	if p.cfg.User != "" {
		o.SetUsername(p.cfg.User)
	}
	if p.cfg.Password != "" {
		o.SetPassword(p.cfg.Password)
	}
	if p.cfg.TLS != nil {
		o.SetTLSConfig(p.cfg.TLS)
	}
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		// Retained, so a broker that restarted without persistence, and a Home Assistant
		// that starts later, learn them again.
		if c.discovery != nil {
			p.publishRetained(c, c.discoveryPath, c.discovery)
		}
		p.publishRetained(c, c.status, []byte(c.statusNow()))
		c.cnt.Connected.Store(true)
		p.log.printf("mqtt: %s: connected to %s\n", c.name, broker)
	})
	o.SetConnectionLostHandler(func(cl mqtt.Client, err error) {
		c.cnt.Connected.Store(false)
		c.cnt.Lost.Add(1)
		p.log.printf("mqtt: %s: connection to %s lost (%v); reconnecting\n", c.name, broker, err)
	})
	// A refused connection (a wrong password, a broker not up yet) is said once per reason,
	// not at every retry of a broker that stays away for a day.
	var mu sync.Mutex // the notifications come from Paho's goroutines
	var lastFailure string
	failed := func(err error) {
		if why := err.Error(); why != lastFailure {
			lastFailure = why
			p.log.printf("mqtt: %s: cannot connect to %s (%s); trying again\n", c.name, broker, why)
		}
	}
	o.SetConnectionNotificationHandler(func(cl mqtt.Client, n mqtt.ConnectionNotification) {
		mu.Lock()
		defer mu.Unlock()
		switch n := n.(type) {
		case mqtt.ConnectionNotificationConnected:
			lastFailure = ""
		case mqtt.ConnectionNotificationBrokerFailed:
			failed(n.Reason)
		case mqtt.ConnectionNotificationFailed: // refused by the broker: a wrong password
			failed(n.Reason)
		}
	})
	c.client = mqtt.NewClient(o)
	// With ConnectRetry the token completes only once connected: nobody waits for it.
	c.client.Connect()
	p.wg.Add(1)
	go p.send(c)
}

func (p *Publisher) publishRetained(c *camera, topic string, payload []byte) {
	t := c.client.Publish(topic, 1, true, payload)
	if !t.WaitTimeout(publishWait) {
		p.log.printf("mqtt: %s: %s not acknowledged within %v\n", c.name, topic, publishWait)
	} else if err := t.Error(); err != nil {
		p.log.printf("mqtt: %s: %s: %v\n", c.name, topic, err)
	}
}

// Counters are a camera's publishing totals (nil for a camera the publisher does not know).
func (p *Publisher) Counters(camera string) *Counters {
	if c := p.cams[camera]; c != nil {
		return &c.cnt
	}
	return nil
}

// Publish hands r over for publishing when the camera's label changed or Every has passed.
// It never blocks and allocates nothing: it runs in the camera loop. r.Camera names the
// camera; a run of one camera leaves it empty, and then the publisher's only camera is meant.
func (p *Publisher) Publish(r *stream.Result) {
	c := p.cams[r.Camera]
	if c == nil && r.Camera == "" {
		c = p.only
	}
	if c == nil || len(r.Top) == 0 {
		return
	}
	c.seen.Store(time.Now().UnixNano())
	label := r.Top[0].Label
	if label == c.last && r.Time.Sub(c.lastAt) < p.cfg.Every && !c.lastAt.IsZero() && !c.quiet.Load() {
		return
	}
	var m *message
	select {
	case m = <-c.free:
	default:
		c.cnt.Dropped.Add(1) // the network is behind: this result is lost, the next change is not
		return
	}
	c.last, c.lastAt = label, r.Time
	m.res = *r
	m.res.Camera = c.name
	m.top = append(m.top[:0], r.Top...)
	m.res.Top = m.top
	c.queue <- m // never blocks: the queue holds every message that is not free
}

// resultJSON is what PREFIX/CAMERA/result carries.
type resultJSON struct {
	Camera string        `json:"camera"`
	Time   time.Time     `json:"time"`
	Frame  int           `json:"frame"`
	Top    []infer.Class `json:"top"`
	MS     float64       `json:"ms"`
}

// send publishes a camera's queued results until Close.
func (p *Publisher) send(c *camera) {
	defer p.wg.Done()
	c.seen.Store(time.Now().UnixNano()) // a camera gets Quiet from the start to send its first frame
	tick := time.NewTicker(p.cfg.Quiet / 4)
	defer tick.Stop()
	for {
		var m *message
		select {
		case m = <-c.queue:
		case <-tick.C:
			if !c.quiet.Load() && time.Since(time.Unix(0, c.seen.Load())) > p.cfg.Quiet {
				c.quiet.Store(true)
				p.log.printf("mqtt: %s: no frame for %v: status offline\n", c.name, p.cfg.Quiet)
				p.publishStatus(c)
			}
			continue
		case <-p.stop:
			return
		}
		if c.quiet.Load() {
			c.quiet.Store(false)
			p.publishStatus(c)
		}
		payload, err := json.Marshal(resultJSON{Camera: m.res.Camera, Time: m.res.Time, Frame: m.res.Frame, Top: m.res.Top, MS: m.res.MS})
		c.free <- m
		if err != nil || !c.client.IsConnectionOpen() {
			// A result is worth its moment only: while the broker is away results are
			// dropped, not stored, and the first after the reconnection is current.
			c.cnt.Dropped.Add(1)
			continue
		}
		t := c.client.Publish(c.result, 0, false, payload)
		if t.WaitTimeout(publishWait) && t.Error() == nil {
			c.cnt.Published.Add(1)
		} else {
			c.cnt.Dropped.Add(1)
		}
	}
}

// statusNow is what the camera's status topic should say while connected.
func (c *camera) statusNow() string {
	if c.quiet.Load() {
		return Offline
	}
	return Online
}

// publishStatus says the camera's status when connected (else the next connection will).
func (p *Publisher) publishStatus(c *camera) {
	if c.client.IsConnectionOpen() {
		p.publishRetained(c, c.status, []byte(c.statusNow()))
	}
}

// Close marks every camera offline (retained) and disconnects, waiting at most a few
// seconds for a broker that is away.
func (p *Publisher) Close() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		var wg sync.WaitGroup
		for _, c := range p.cams {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if c.client.IsConnectionOpen() {
					p.publishRetained(c, c.status, []byte(Offline))
				}
				c.client.Disconnect(250)
			}()
		}
		wg.Wait()
	})
}

// logger serialises the clients' messages.
type logger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *logger) printf(format string, a ...any) {
	if l.w == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, a...)
}

// Collectors are each camera's publishing metrics, labelled camera="NAME", for /metrics.
func (p *Publisher) Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	for name, c := range p.cams {
		l := prometheus.Labels{"camera": name}
		count := func(metric, help string, v *atomic.Int64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: metric, Help: help, ConstLabels: l}, func() float64 { return float64(v.Load()) })
		}
		out = append(out,
			count("ninedge_mqtt_published_total", "Results published to the MQTT broker.", &c.cnt.Published),
			count("ninedge_mqtt_dropped_total", "Results not published: the queue was full or the broker away.", &c.cnt.Dropped),
			count("ninedge_mqtt_connections_lost_total", "Connections to the MQTT broker lost (each is reconnected).", &c.cnt.Lost),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ninedge_mqtt_connected", Help: "1 while connected to the MQTT broker.", ConstLabels: l},
				func() float64 {
					if c.cnt.Connected.Load() {
						return 1
					}
					return 0
				}))
	}
	return out
}
