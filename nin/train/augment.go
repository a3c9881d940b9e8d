package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/ninedge/ninedge/nin"
)

// Augmentations.
const (
	AugmentNone     = "none"
	AugmentCropFlip = "crop-flip" // pad 4, random 32×32 crop, random horizontal flip
)

// cropPad is how far a crop may shift the image, the standard CIFAR recipe.
const cropPad = 4

// Every random choice in training (shuffle order, crops, flips, dropout masks) comes from a
// generator seeded by a hash of the run's seed and the choice's coordinates: the stream
// (what it is for), the epoch or step, the image. Nothing is drawn from a shared sequential
// generator, so results do not depend on how work is split over threads, and a checkpoint
// needs only counters, not generator states, to continue a run bit for bit.
const (
	streamShuffle = iota + 1
	streamCrop
	streamDropout
)

// mix is the splitmix64 finaliser applied to a combination of its inputs: distinct inputs
// give unrelated seeds, which PCG's raw state does not guarantee for nearby values.
func mix(a, b, c uint64) uint64 {
	z := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9 ^ (c+0x632be59bd9b4e019)*0x94d049bb133111eb
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// seedPCG seeds p for the choice at (stream, i, j) of the run seeded by seed.
func seedPCG(p *rand.PCG, seed uint64, stream, i, j uint64) {
	p.Seed(mix(seed, stream, i), mix(j, stream, seed))
}

// checkAugment validates an augmentation name against the input shape.
func checkAugment(name string, in nin.Shape) error {
	switch name {
	case AugmentNone:
	case AugmentCropFlip:
		if in.H <= cropPad || in.W <= cropPad {
			return fmt.Errorf("augment %s: input %v too small", name, in)
		}
	default:
		return fmt.Errorf("unknown augmentation %q (%s, %s)", name, AugmentNone, AugmentCropFlip)
	}
	return nil
}

// cropFlip writes into dst the image src (HWC) padded with cropPad zero pixels on every side,
// cropped back to its size at a random offset, and mirrored left to right half the time.
func cropFlip(src []uint8, in nin.Shape, p *rand.PCG, dst []uint8) {
	u := p.Uint64()
	const span = 2*cropPad + 1
	dy := int(u&0xffff)%span - cropPad
	dx := int(u>>16&0xffff)%span - cropPad
	flip := u>>32&1 == 1
	c := in.C
	for y := 0; y < in.H; y++ {
		row := dst[y*in.W*c:][:in.W*c]
		sy := y + dy
		if sy < 0 || sy >= in.H {
			clear(row)
			continue
		}
		for x := 0; x < in.W; x++ {
			sx := x + dx
			if flip {
				sx = in.W - 1 - x + dx
			}
			d := row[x*c:][:c]
			if sx < 0 || sx >= in.W {
				clear(d)
				continue
			}
			copy(d, src[(sy*in.W+sx)*c:][:c])
		}
	}
}
