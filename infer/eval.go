package infer

import (
	"fmt"
	"math"
	"time"

	"github.com/ninedge/ninedge/dataset"
	"github.com/ninedge/ninedge/nin"
)

// Evaluation is a model's accuracy over a labelled set.
type Evaluation struct {
	N            int       `json:"n"`
	Top1         float64   `json:"top1"`
	Top5         float64   `json:"top5"`
	ImagesPerSec float64   `json:"images_per_s"`
	PerClass     []float64 `json:"per_class_top1"`
	// Pred is each image's top-1 class, for agreement between two models.
	Pred []int32 `json:"-"`
	// Scores holds every image's scores (N × classes) when asked for.
	Scores []float32 `json:"-"`
}

// Evaluate scores the first n images of the set (all when n ≤ 0). progress, if not nil, is
// called with the number of images done after each batch. Scores that are not finite (a float
// model whose finite but huge weights overflow) are an error naming how many images had
// them: an accuracy computed from them would mean nothing.
func Evaluate(s *Classifier, set *dataset.Set, n int, keepScores bool, progress func(done int)) (Evaluation, error) {
	if n <= 0 || n > set.N {
		n = set.N
	}
	k := len(s.Classes())
	d := set.H * set.W * set.C
	res := Evaluation{N: n, Pred: make([]int32, n), PerClass: make([]float64, k)}
	if keepScores {
		res.Scores = make([]float32, n*k)
	}
	scores := make([]float32, s.Batch()*k)
	perClassN := make([]int, k)
	top := make([]int, 0, 5)
	var hit1, hit5, nonFinite int
	start := time.Now()
	for i0 := 0; i0 < n; i0 += s.Batch() {
		cnt := min(s.Batch(), n-i0)
		if err := s.Scores(set.Images[i0*d:(i0+cnt)*d], cnt, scores); err != nil {
			return res, err
		}
		for j := 0; j < cnt; j++ {
			sc := scores[j*k : (j+1)*k]
			if !finite(sc) {
				nonFinite++
			}
			label := int(set.Labels[i0+j])
			top = nin.TopK(sc, 5, top)
			res.Pred[i0+j] = int32(top[0])
			if label < k {
				perClassN[label]++
			}
			if top[0] == label {
				hit1++
				res.PerClass[label]++
			}
			for _, t := range top {
				if t == label {
					hit5++
				}
			}
			if keepScores {
				copy(res.Scores[(i0+j)*k:], sc)
			}
		}
		if progress != nil {
			progress(i0 + cnt)
		}
	}
	if nonFinite > 0 {
		return res, fmt.Errorf("%d of %d images have scores that are not finite (NaN or infinite): the model is broken, and no accuracy is reported", nonFinite, n)
	}
	res.ImagesPerSec = float64(n) / time.Since(start).Seconds()
	res.Top1 = float64(hit1) / float64(n)
	res.Top5 = float64(hit5) / float64(n)
	for c := range res.PerClass {
		if perClassN[c] > 0 {
			res.PerClass[c] /= float64(perClassN[c])
		}
	}
	return res, nil
}

func finite(v []float32) bool {
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}
