package mqttpub

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/ninedge/ninedge/infer"
	"github.com/ninedge/ninedge/stream"
	"github.com/ninedge/ninedge/stream/streamtest"
)

// msg is one message a subscriber received.
type msg struct {
	topic, payload string
	retained       bool
}

// subscriber records every message on the broker (all topics), resubscribing after a broker
// restart.
type subscriber struct {
	mu   sync.Mutex
	msgs []msg
	c    mqtt.Client
}

func subscribe(t *testing.T, broker string) *subscriber {
	t.Helper()
	s := &subscriber{}
	o := mqtt.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("test-sub-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetMaxReconnectInterval(time.Second).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond)
	o.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
			s.mu.Lock()
			s.msgs = append(s.msgs, msg{m.Topic(), string(m.Payload()), m.Retained()})
			s.mu.Unlock()
		}).Wait()
	})
	s.c = mqtt.NewClient(o)
	if t := s.c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		panic(fmt.Sprintf("subscriber: %v", t.Error()))
	}
	t.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

// on returns the messages on topic so far.
func (s *subscriber) on(topic string) []msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []msg
	for _, m := range s.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// wait waits until cond holds for the messages on topic.
func (s *subscriber) wait(t *testing.T, topic, what string, cond func([]msg) bool) []msg {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := s.on(topic); cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: waited 20 s for %s; got %v", topic, what, s.on(topic))
		}
	}
}

func last(want string) func([]msg) bool {
	return func(m []msg) bool { return len(m) > 0 && m[len(m)-1].payload == want }
}

func result(camera string, frame int, at time.Time, label string) *stream.Result {
	return &stream.Result{Camera: camera, Frame: frame, Time: at, MS: 1.5,
		Top: []infer.Class{{Class: int(label[0]), Label: label, Prob: 0.75}, {Class: 0, Label: "other", Prob: 0.25}}}
}

// TestPublish: results, the rate rule, status and discovery, on a real Mosquitto.
func TestPublish(t *testing.T) {
	b := streamtest.Mosquitto(t)
	sub := subscribe(t, b.URL)
	var log streamtest.SyncBuffer
	p, err := New(Config{Broker: b.URL, ClientID: "edge1", Every: time.Second, Model: "digits.safetensors", Version: "test", Log: &log}, []string{"front", "back"})
	if err != nil {
		t.Fatal(err)
	}
	sub.wait(t, "ninedge/front/status", "online", last(Online))
	sub.wait(t, "ninedge/back/status", "online", last(Online))
	t0 := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	// front: the first result, a change, the same label too soon, then a second later.
	for _, r := range []*stream.Result{
		result("front", 0, t0, "cat"),
		result("front", 1, t0.Add(100*time.Millisecond), "dog"),
		result("front", 2, t0.Add(500*time.Millisecond), "dog"),
		result("front", 3, t0.Add(1100*time.Millisecond), "dog"),
		result("back", 7, t0, "cat"),
		result("nobody", 1, t0, "cat"),
	} {
		p.Publish(r)
	}
	sub.wait(t, "ninedge/front/result", "3 results", func(m []msg) bool { return len(m) >= 3 })
	time.Sleep(200 * time.Millisecond) // time for a fourth, which must not come
	got := sub.on("ninedge/front/result")
	var frames []int
	for _, m := range got {
		var r resultJSON
		if err := json.Unmarshal([]byte(m.payload), &r); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, r.Frame)
		if r.Camera != "front" || r.MS != 1.5 || len(r.Top) != 2 || r.Top[0].Prob != 0.75 || r.Time.IsZero() || m.retained {
			t.Errorf("result %s (retained %v)", m.payload, m.retained)
		}
	}
	if !slices.Equal(frames, []int{0, 1, 3}) {
		t.Errorf("front published frames %v, want [0 1 3] (a change, then once per second)", frames)
	}
	sub.wait(t, "ninedge/back/result", "1 result", func(m []msg) bool { return len(m) == 1 })
	if n := p.Counters("front").Published.Load(); n != 3 {
		t.Errorf("front: %d published, want 3", n)
	}

	// Discovery: one retained sensor config per camera.
	for _, cam := range []string{"front", "back"} {
		cfg := sub.wait(t, "homeassistant/sensor/edge1/"+cam+"/config", "a config", func(m []msg) bool { return len(m) > 0 })
		checkDiscovery(t, cam, cfg[len(cfg)-1].payload)
	}
	p.Close()
	sub.wait(t, "ninedge/front/status", "offline", last(Offline))
	sub.wait(t, "ninedge/back/status", "offline", last(Offline))
	if !strings.Contains(log.String(), "front: connected to tcp://127.0.0.1") {
		t.Errorf("log:\n%s", log.String())
	}
}

// The MQTT sensor's configuration variables as Home Assistant documents them
// (https://www.home-assistant.io/integrations/sensor.mqtt/), with the discovery-only origin
// (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery), and the device's.
var (
	sensorFields = []string{"availability", "availability_mode", "availability_template", "availability_topic", "default_entity_id",
		"device", "device_class", "enabled_by_default", "encoding", "entity_category", "entity_picture", "expire_after", "force_update",
		"icon", "json_attributes_template", "json_attributes_topic", "last_reset_value_template", "name", "object_id", "options",
		"payload_available", "payload_not_available", "platform", "suggested_display_precision", "qos", "state_class", "state_topic",
		"unique_id", "unit_of_measurement", "value_template", "origin"}
	deviceFields = []string{"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id", "name",
		"serial_number", "suggested_area", "sw_version", "via_device"}
	originFields = []string{"name", "sw_version", "support_url"}
)

func checkFields(t *testing.T, what string, obj map[string]any, allowed []string) {
	t.Helper()
	for k := range obj {
		if !slices.Contains(allowed, k) {
			t.Errorf("%s: field %q is not in Home Assistant's documented schema", what, k)
		}
	}
}

func checkDiscovery(t *testing.T, cam, payload string) {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal([]byte(payload), &c); err != nil {
		t.Fatalf("discovery config %s: %v", payload, err)
	}
	checkFields(t, "sensor", c, sensorFields)
	dev, _ := c["device"].(map[string]any)
	checkFields(t, "device", dev, deviceFields)
	org, _ := c["origin"].(map[string]any)
	checkFields(t, "origin", org, originFields)
	want := map[string]any{"state_topic": "ninedge/" + cam + "/result", "json_attributes_topic": "ninedge/" + cam + "/result",
		"availability_topic": "ninedge/" + cam + "/status", "payload_available": "online", "payload_not_available": "offline",
		"unique_id": "edge1_" + cam, "name": cam, "value_template": "{{ value_json.top[0].label }}"}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s: %s = %v, want %v", cam, k, c[k], v)
		}
	}
	// A device needs identifiers, and an entity with a device a unique_id (HA refuses it else).
	if ids, _ := dev["identifiers"].([]any); len(ids) != 1 || ids[0] != "edge1" || org["name"] != "ninedge" {
		t.Errorf("%s: device %v, origin %v", cam, dev, org)
	}
	if tpl, _ := c["json_attributes_template"].(string); !strings.Contains(tpl, "'probability': value_json.top[0].prob") {
		t.Errorf("%s: attributes template %q does not give the probability", cam, tpl)
	}
}

// TestBrokerRestart restarts Mosquitto while results flow: the publisher reconnects, says
// online again (a broker without persistence forgot it) and results resume; Publish never
// waits for the network meanwhile.
func TestBrokerRestart(t *testing.T) {
	b := streamtest.Mosquitto(t)
	sub := subscribe(t, b.URL)
	var log streamtest.SyncBuffer
	p, err := New(Config{Broker: b.URL, ClientID: "edge2", Every: 0, Log: &log}, []string{"cam"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub.wait(t, "ninedge/cam/status", "online", last(Online))
	stop, done := make(chan struct{}), make(chan time.Duration)
	go func() {
		var slowest time.Duration
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- slowest
				return
			case <-time.After(5 * time.Millisecond):
			}
			start := time.Now()
			p.Publish(result("", i, time.Now(), fmt.Sprint("label", i%2)))
			slowest = max(slowest, time.Since(start))
		}
	}()
	sub.wait(t, "ninedge/cam/result", "results", func(m []msg) bool { return len(m) > 10 })
	b.Stop()
	time.Sleep(500 * time.Millisecond)
	before := len(sub.on("ninedge/cam/result"))
	onlineBefore := len(sub.on("ninedge/cam/status"))
	b.Restart()
	sub.wait(t, "ninedge/cam/status", "online again", func(m []msg) bool { return len(m) > onlineBefore && m[len(m)-1].payload == Online })
	sub.wait(t, "ninedge/cam/result", "results again", func(m []msg) bool { return len(m) > before+10 })
	close(stop)
	if slowest := <-done; slowest > 50*time.Millisecond {
		t.Errorf("a Publish took %v: the camera loop waited for the network", slowest)
	}
	c := p.Counters("cam")
	if c.Lost.Load() < 1 || c.Dropped.Load() < 1 || !c.Connected.Load() {
		t.Errorf("lost %d, dropped %d, connected %v; log:\n%s", c.Lost.Load(), c.Dropped.Load(), c.Connected.Load(), log.String())
	}
	if !strings.Contains(log.String(), "lost") {
		t.Errorf("the loss is not logged:\n%s", log.String())
	}
}

// TestLastWill cuts the publisher's connection without a DISCONNECT, as a crash or a pulled
// cable would: the broker publishes the retained "offline" will, and the reconnection says
// "online" again.
func TestLastWill(t *testing.T) {
	b := streamtest.Mosquitto(t)
	sub := subscribe(t, b.URL)
	px := proxy(t, fmt.Sprintf("127.0.0.1:%d", b.Port))
	p, err := New(Config{Broker: "tcp://" + px.addr, ClientID: "edge3"}, []string{"cam"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	n := len(sub.wait(t, "ninedge/cam/status", "online", last(Online)))
	px.cut()
	sub.wait(t, "ninedge/cam/status", "the will", func(m []msg) bool {
		return slices.ContainsFunc(m[n:], func(m msg) bool { return m.payload == Offline })
	})
	sub.wait(t, "ninedge/cam/status", "online after the reconnection", last(Online))
}

// TestNoBroker: with the broker unreachable, Publish still returns at once and counts its
// drops, and Close does not hang.
func TestNoBroker(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p, err := New(Config{Broker: "tcp://" + addr, ClientID: "edge4"}, []string{"cam"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 1000 {
		p.Publish(result("cam", i, time.Now(), fmt.Sprint("l", i%2)))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("1000 Publish calls took %v", d)
	}
	time.Sleep(100 * time.Millisecond)
	if d := p.Counters("cam").Dropped.Load(); d != 1000 {
		t.Errorf("%d dropped, want 1000", d)
	}
	start = time.Now()
	p.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v", d)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		cfg     Config
		cameras []string
		want    string
	}{
		{Config{Broker: "http://host"}, nil, "want tcp://"},
		{Config{Broker: "tcp://"}, nil, "no host"},
		{Config{Broker: "tcp://u:secret@host:1", ClientID: "a b"}, nil, "--mqtt-client-id"},
		{Config{Broker: "tcp://host", Topic: "a/#"}, nil, "wildcards"},
		{Config{Broker: "tcp://host"}, []string{"a/b"}, `camera name "a/b"`},
		{Config{Broker: "tcp://host"}, []string{"a", "a"}, "twice"},
		{Config{Broker: "tcp://host", Every: -1}, nil, "negative"},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, tt.cameras)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("New(%+v, %v): %v, want %q", tt.cfg, tt.cameras, err, tt.want)
		}
	}
}

// tcpProxy forwards connections to a broker and can cut them all at once.
type tcpProxy struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

func proxy(t *testing.T, to string) *tcpProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	px := &tcpProxy{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", to)
			if err != nil {
				c.Close()
				continue
			}
			px.mu.Lock()
			px.conns = append(px.conns, c, up)
			px.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return px
}

func (px *tcpProxy) cut() {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, c := range px.conns {
		c.Close()
	}
	px.conns = nil
}

// TestPublishAllocations: the camera loop's side of publishing allocates nothing, whether the
// result is queued, dropped or not due.
func TestPublishAllocations(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	p, err := New(Config{Broker: "tcp://" + addr, ClientID: "edge5", Every: time.Hour}, []string{"cam"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := result("cam", 0, time.Now(), "a")
	labels := []string{"a", "b"}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		r.Frame = i
		r.Top[0].Label = labels[i%2]
		p.Publish(r)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Publish", allocs)
	}
}

// TestQuietCamera: a camera that sends no frame for Quiet (dropped, being reconnected) is
// marked offline, so Home Assistant shows it unavailable; its next frame marks it online.
func TestQuietCamera(t *testing.T) {
	b := streamtest.Mosquitto(t)
	sub := subscribe(t, b.URL)
	var log streamtest.SyncBuffer
	p, err := New(Config{Broker: b.URL, ClientID: "edge6", Quiet: 400 * time.Millisecond, Every: time.Hour, Log: &log}, []string{"cam"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub.wait(t, "ninedge/cam/status", "online", last(Online))
	for i := range 10 { // frames for a while: online all along
		p.Publish(result("cam", i, time.Now(), "a"))
		time.Sleep(50 * time.Millisecond)
	}
	if got := sub.on("ninedge/cam/status"); len(got) != 1 {
		t.Errorf("status while frames flow: %v", got)
	}
	sub.wait(t, "ninedge/cam/status", "offline once the frames stop", last(Offline))
	p.Publish(result("cam", 10, time.Now(), "a")) // the same label, within Every: published all the same
	sub.wait(t, "ninedge/cam/status", "online with the next frame", last(Online))
	sub.wait(t, "ninedge/cam/result", "the frame after the gap", func(m []msg) bool { return len(m) == 2 })
	if !strings.Contains(log.String(), "cam: no frame for 400ms: status offline") {
		t.Errorf("log:\n%s", log.String())
	}
}
