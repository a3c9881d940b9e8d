package mqttpub

import (
	"encoding/json"
	"fmt"
)

// Home Assistant's MQTT discovery (https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery):
// a retained JSON config on DISCOVERY/sensor/NODE_ID/OBJECT_ID/config creates an entity. Each
// camera is one sensor of the device CLIENTID: its state is the top label, its attributes the
// top label's probability and the rest of the result, and it is unavailable while the camera's
// status topic says offline. The field names are those of the MQTT sensor's documented
// configuration (https://www.home-assistant.io/integrations/sensor.mqtt/).

type sensorConfig struct {
	Name                   string       `json:"name"`
	UniqueID               string       `json:"unique_id"`
	StateTopic             string       `json:"state_topic"`
	ValueTemplate          string       `json:"value_template"`
	JSONAttributesTopic    string       `json:"json_attributes_topic"`
	JSONAttributesTemplate string       `json:"json_attributes_template"`
	AvailabilityTopic      string       `json:"availability_topic"`
	PayloadAvailable       string       `json:"payload_available"`
	PayloadNotAvailable    string       `json:"payload_not_available"`
	Icon                   string       `json:"icon"`
	Device                 deviceConfig `json:"device"`
	Origin                 originConfig `json:"origin"`
}

type deviceConfig struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model,omitempty"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

type originConfig struct {
	Name       string `json:"name"`
	SWVersion  string `json:"sw_version,omitempty"`
	SupportURL string `json:"support_url,omitempty"`
}

// Templates that read a result (resultJSON): the state is the top label; the attributes
// are its probability and class, the whole top list, the frame, its time and the latency.
const (
	valueTemplate      = "{{ value_json.top[0].label }}"
	attributesTemplate = "{{ {'probability': value_json.top[0].prob, 'class': value_json.top[0].class, 'top': value_json.top, " +
		"'frame': value_json.frame, 'time': value_json.time, 'ms': value_json.ms} | tojson }}"
)

// discovery returns a camera's discovery topic and config.
func discovery(cfg Config, camera, result, status string) (string, []byte) {
	id := cfg.ClientID + "_" + camera
	model := "ninedge"
	if cfg.Model != "" {
		model = "ninedge, model " + cfg.Model
	}
	b, err := json.Marshal(sensorConfig{
		Name: camera, UniqueID: id,
		StateTopic: result, ValueTemplate: valueTemplate,
		JSONAttributesTopic: result, JSONAttributesTemplate: attributesTemplate,
		AvailabilityTopic: status, PayloadAvailable: Online, PayloadNotAvailable: Offline,
		Icon:   "mdi:cctv",
		Device: deviceConfig{Identifiers: []string{cfg.ClientID}, Name: cfg.ClientID, Manufacturer: "ninedge", Model: model, SWVersion: cfg.Version},
		Origin: originConfig{Name: "ninedge", SWVersion: cfg.Version},
	})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return fmt.Sprintf("%s/sensor/%s/%s/config", cfg.Discovery, cfg.ClientID, camera), b
}
