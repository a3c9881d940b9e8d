package train

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"

	"github.com/ninedge/ninedge/nin"
	"github.com/ninedge/ninedge/safetensors"
)

// A checkpoint is a float model file (the trainer's unfolded weights) under its own format
// name, so that no tool takes weights that still need their BN for a model, plus the
// metadata key "train" (options and state as JSON) and tensors for everything else a run
// carries: "<layer>.bn.{gamma,beta,running_mean,running_var}" and "<param>.momentum".
// Random choices are functions of the seed and the state's counters (see augment.go), so
// these are all it takes to continue bit for bit. Version 2 adds options (see TrainOptions)
// and, with EMA on, "<tensor>.ema" for each averaged tensor; a version 1 checkpoint reads as
// a version 2 one with those options off, and continues exactly as before. Version 1
// readers refuse version 2, whose options they would silently drop.
const (
	FormatCheckpoint  = "ninedge-checkpoint"
	CheckpointVersion = 2
)

type checkpointMeta struct {
	Options TrainOptions    `json:"options"`
	State   TrainState      `json:"state"`
	Run     json.RawMessage `json:"run,omitempty"`
}

// SaveCheckpoint writes the trainer's full state atomically.
func (t *Trainer) SaveCheckpoint(path string) error {
	f, err := t.Model.File()
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	meta, err := json.Marshal(checkpointMeta{Options: t.Opt, State: t.State, Run: t.Run})
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	f.Metadata["format"] = FormatCheckpoint
	f.Metadata["format_version"] = fmt.Sprint(CheckpointVersion)
	f.Metadata["train"] = string(meta)
	for i, bn := range t.bn {
		if bn == nil {
			continue
		}
		name, c := t.Model.Spec.Layers[i].Name+".bn.", []int{len(bn.gamma)}
		f.Tensors = append(f.Tensors, safetensors.F32(name+"gamma", c, bn.gamma),
			safetensors.F32(name+"beta", c, bn.beta),
			safetensors.F32(name+"running_mean", c, bn.runMean),
			safetensors.F32(name+"running_var", c, bn.runVar))
	}
	for _, p := range t.params {
		f.Tensors = append(f.Tensors, safetensors.F32(p.name+".momentum", []int{len(p.v)}, p.v))
	}
	if t.avg != nil {
		for _, p := range t.avg.pairs {
			f.Tensors = append(f.Tensors, safetensors.F32(p.name, []int{len(p.avg)}, p.avg))
		}
	}
	if err := safetensors.WriteFile(path, f); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// LoadCheckpoint rebuilds a trainer from a checkpoint; threads ≤ 0 means all cores.
func LoadCheckpoint(path string, threads int) (*Trainer, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := trainerFromFile(f, threads)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return t, nil
}

// CheckpointRun returns the caller's record of the run (Trainer.Run) that a checkpoint
// holds, nil for checkpoints written without one, so that a caller can learn the run's
// settings before it builds the trainer.
func CheckpointRun(path string) (json.RawMessage, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if got := f.Metadata["format"]; got != FormatCheckpoint {
		return nil, fmt.Errorf("checkpoint %s: format is %q, want %q", path, got, FormatCheckpoint)
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(f.Metadata["train"]), &meta); err != nil {
		return nil, fmt.Errorf("checkpoint %s: metadata train: %w", path, err)
	}
	return meta.Run, nil
}

func trainerFromFile(f *safetensors.File, threads int) (*Trainer, error) {
	if got := f.Metadata["format"]; got != FormatCheckpoint {
		return nil, fmt.Errorf("format is %q, want %q", got, FormatCheckpoint)
	}
	if v := f.Metadata["format_version"]; v != "1" && v != fmt.Sprint(CheckpointVersion) {
		return nil, fmt.Errorf("checkpoint version %q not supported (want 1 to %d)", v, CheckpointVersion)
	}
	var meta checkpointMeta
	if err := json.Unmarshal([]byte(f.Metadata["train"]), &meta); err != nil {
		return nil, fmt.Errorf("metadata train: %w", err)
	}
	asModel := *f
	asModel.Metadata = maps.Clone(f.Metadata)
	asModel.Metadata["format"], asModel.Metadata["format_version"] = nin.FormatFloat, fmt.Sprint(nin.FormatVersion)
	m, err := nin.FromFile(&asModel)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(m, meta.Options, threads)
	if err != nil {
		return nil, err
	}
	t.State, t.Run = meta.State, meta.Run
	if t.State.Epoch < 0 || t.State.Pos < 0 || t.State.Seen < 0 {
		return nil, fmt.Errorf("metadata train: bad position %+v", t.State)
	}
	if u := t.State.Untested; u != nil && (u.Epoch != t.State.Epoch || t.State.Pos != 0) {
		return nil, fmt.Errorf("metadata train: untested epoch %d, but the state is at step %d of epoch %d", u.Epoch, t.State.Pos, t.State.Epoch+1)
	}
	// An image's loss is below 2·MaxFloat32 (finite scores), so a larger sum is damage, and
	// adding to it could overflow to +Inf, which no checkpoint can then record.
	if l := t.State.Loss; !(l >= 0 && l <= float64(t.State.Seen)*2*math.MaxFloat32) || !(t.State.Seconds >= 0) || math.IsInf(t.State.Seconds, 0) {
		return nil, fmt.Errorf("metadata train: loss %v and seconds %v are not plausible for %d images", l, t.State.Seconds, t.State.Seen)
	}
	read := func(name string, dst []float32) error {
		v, err := nin.TensorF32(f, name, len(dst))
		if err != nil {
			return err
		}
		copy(dst, v)
		return nil
	}
	for i, bn := range t.bn {
		if bn == nil {
			continue
		}
		name := m.Spec.Layers[i].Name + ".bn."
		for _, x := range []struct {
			n string
			v []float32
		}{{"gamma", bn.gamma}, {"beta", bn.beta}, {"running_mean", bn.runMean}, {"running_var", bn.runVar}} {
			if err := read(name+x.n, x.v); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range t.params {
		if err := read(p.name+".momentum", p.v); err != nil {
			return nil, err
		}
	}
	if t.avg != nil {
		for _, p := range t.avg.pairs {
			if err := read(p.name, p.avg); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}
