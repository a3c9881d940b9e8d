package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/dataset/datasettest"
	nintrain "github.com/ninedge/ninedge/nin/train"
)

// ownClasses are the CIFAR-10 classes of the photo folder, and perClass its images of each.
var ownClasses, perClass = []string{"automobile", "cat", "ship"}, 150

// TestOwnClasses is the walk-through of docs/training.md ("teach it your own classes"): a
// folder of photos of three classes (CIFAR-10 training images, half of them at twice the
// size, which the folder reader fits as inference fits camera frames), fine-tuned from the
// shipped nin-cifar10 model with a held-out fifth, against the same training from scratch;
// then ninquant converts it, calibrated on the folder, and ninedge classifies with the
// folder's class names.
func TestOwnClasses(t *testing.T) {
	if testing.Short() {
		t.Skip("two trainings of nin-cifar10 and two builds: minutes on two cores")
	}
	cifar := datasettest.Dir(t, "cifar10")
	shipped := filepath.Join("..", "..", "models", "nin-cifar10.safetensors")
	dir := t.TempDir()
	photos := filepath.Join(dir, "photos")
	writePhotos(t, cifar, photos)
	const epochs = "6"
	ft, scratch := filepath.Join(dir, "ft.safetensors"), filepath.Join(dir, "scratch.safetensors")
	if err := run(testEnv(), []string{"--init", shipped, "--dataset", "folder", "--data", photos, "--epochs", epochs, "-o", ft}); err != nil {
		t.Fatal(err)
	}
	if err := run(testEnv(), []string{"--arch", "nin-cifar10", "--dataset", "folder", "--data", photos, "--epochs", epochs, "--batch", "32", "-o", scratch}); err != nil {
		t.Fatal(err)
	}
	ftAcc, scratchAcc := lastTestAcc(t, ft), lastTestAcc(t, scratch)
	t.Logf("held-out accuracy after %s epochs: fine-tuned %.2f%%, from scratch %.2f%%", epochs, 100*ftAcc, 100*scratchAcc)
	if !(ftAcc >= scratchAcc+0.15) {
		t.Errorf("fine-tuning gives %.2f%%, from scratch %.2f%%: want 15 points more", 100*ftAcc, 100*scratchAcc)
	}

	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", bin+string(filepath.Separator), "../ninquant", "../ninedge").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Calibrated on the images it trained on, evaluated on those it held out, as nintrain split
	// them (--holdout 0.2 and --seed 1, its defaults).
	heldOut := []string{"--dataset", "folder", "--data", photos, "--holdout", "0.2", "--seed", "1"}
	q := filepath.Join(dir, "ft-int8.safetensors")
	if out, err := exec.Command(filepath.Join(bin, "ninquant"), append([]string{"convert", "--model", ft, "-o", q}, heldOut...)...).CombinedOutput(); err != nil {
		t.Fatalf("ninquant convert: %v\n%s", err, out)
	}
	eval := func(model string) float64 {
		out, err := exec.Command(filepath.Join(bin, "ninquant"), append([]string{"eval", "--model", model, "--backend", "cpu", "--json"}, heldOut...)...).Output()
		if err != nil {
			t.Fatalf("ninquant eval %s: %v", model, err)
		}
		var r struct {
			N    int     `json:"n"`
			Top1 float64 `json:"top1"`
		}
		if err := json.Unmarshal(out, &r); err != nil || r.N != 90 {
			t.Fatalf("ninquant eval %s: %q (%v), want 90 images", model, out, err)
		}
		return r.Top1
	}
	floatAcc, int8Acc := eval(ft), eval(q)
	t.Logf("ninquant eval on the held-out images: float %.2f%%, int8 %.2f%%", 100*floatAcc, 100*int8Acc)
	if floatAcc != ftAcc || int8Acc < floatAcc-0.05 {
		t.Errorf("held out: float %.2f%% (nintrain said %.2f%%), int8 %.2f%%", 100*floatAcc, 100*ftAcc, 100*int8Acc)
	}
	out, err := exec.Command(filepath.Join(bin, "ninedge"), "classify", "--model", q, "--backend", "cpu", "--json", filepath.Join(photos, "ship")).Output()
	if err != nil {
		t.Fatalf("ninedge classify: %v", err)
	}
	right, n := 0, 0
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); n++ {
		var r struct {
			Top []struct {
				Label string `json:"label"`
			} `json:"top"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || len(r.Top) == 0 {
			t.Fatalf("ninedge output %q: %v", sc.Text(), err)
		}
		if !slices.Contains(ownClasses, r.Top[0].Label) {
			t.Fatalf("ninedge says %q, not one of the folder's classes", r.Top[0].Label)
		}
		if r.Top[0].Label == "ship" {
			right++
		}
	}
	t.Logf("ninedge, int8: %d of the %d ship photos (training and held out) called ship", right, n)
	if n != perClass || right < n*3/4 {
		t.Errorf("%d of %d ship photos called ship", right, n)
	}
}

// writePhotos writes the first perClass CIFAR-10 training images of each of ownClasses as
// PNGs into dir/<class>/, every other one doubled to 64×64.
func writePhotos(t *testing.T, cifar, dir string) {
	set, err := dataset.Load("cifar10", cifar, "train", dataset.Options{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for i := range set.N {
		class := set.Classes[set.Labels[i]]
		if !slices.Contains(ownClasses, class) || count[set.Labels[i]] == perClass {
			continue
		}
		k := count[set.Labels[i]]
		count[set.Labels[i]]++
		scale := 1 + k%2
		img := image.NewRGBA(image.Rect(0, 0, 32*scale, 32*scale))
		px := set.Image(i)
		for y := range 32 * scale {
			for x := range 32 * scale {
				p := px[((y/scale)*32+x/scale)*3:]
				img.Set(x, y, color.RGBA{p[0], p[1], p[2], 255})
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, class, strconv.Itoa(k)+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// lastTestAcc is the last epoch's held-out accuracy in the metrics log of the model out.
func lastTestAcc(t *testing.T, out string) float64 {
	tr, err := nintrain.LoadCheckpoint(out[:len(out)-len(".safetensors")]+".ckpt.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.State.History
	return h[len(h)-1].TestAcc
}
