package train

import (
	"fmt"
	"math"
)

// A run that blows up rarely reaches NaN at once: without batch norm, a rate too high for the
// network sends the loss to 10× its start, or kills every ReLU so that the scores no longer
// depend on the image, and the accuracy stays at chance for hours. So the loss is watched
// against where it began, and each epoch's accuracy against chance.
const (
	lossStartSteps = 5   // the run's first steps, whose mean loss is its start: before a rate too high has done harm
	lossRise       = 3.0 // a running loss this many times the start means the run blew up
	lossSmoothing  = 0.9 // weight of the running loss's past: about the last 10 steps count
	// An epoch ending after the warm-up and after this many steps of the run, with a train
	// accuracy below 1.5× chance and a loss above 0.9·log(classes), that of scores that
	// ignore the image, has learnt nothing; fewer steps, or the small rates of a warm-up,
	// say too little.
	stallSteps = 50
)

// DivergedError is a run stopped because its loss is not finite or rose far above its start.
type DivergedError struct {
	Epoch, Step, Steps int     // where: epoch (from 1), step in it (from 1), steps per epoch
	Loss               float64 // the step's loss (NaN or Inf), or the running loss per image
	Start              float64 // the loss per image at the start; 0 when Loss is not finite
	LR                 float64 // the step's learning rate; with Stalled, the peak rate
	BN                 bool    // whether the network has batch norm
	Acc                float64 // with Stalled: the epoch's train accuracy
	Stalled            bool    // the epoch ended at chance level (Loss is its mean loss)
}

func (e *DivergedError) Error() string {
	what := fmt.Sprintf("the loss is %v", e.Loss)
	switch {
	case e.Stalled:
		what = fmt.Sprintf("the epoch ended at chance level (train accuracy %.1f%%, loss %.3g)", 100*e.Acc, e.Loss)
	case e.Start > 0:
		what = fmt.Sprintf("the loss rose to %.3g per image, %.1f× its %.3g at the start", e.Loss, e.Loss/e.Start, e.Start)
	}
	cause := fmt.Sprintf("the learning rate %.3g is too high for this network", e.LR)
	if !e.BN {
		cause += " without batch normalisation"
	}
	return fmt.Sprintf("train: epoch %d, step %d of %d: %s: the run diverged; likely cause: %s (train again with a lower learning rate, a longer warm-up or batch normalisation)",
		e.Epoch, e.Step, e.Steps, what, cause)
}

// watchLoss records the step's loss per image in the state and fails when the running loss
// has risen past lossRise times the start. Runs begun before the start was kept (LossStart 0
// past the first steps) are not watched.
func (t *Trainer) watchLoss(perImage, lr float64, spe int) error {
	st := &t.State
	if st.Step < lossStartSteps {
		n := float64(st.Step)
		st.LossStart = (st.LossStart*n + perImage) / (n + 1)
		st.LossRecent = st.LossStart
		return nil
	}
	if st.LossStart == 0 {
		return nil
	}
	st.LossRecent = lossSmoothing*st.LossRecent + (1-lossSmoothing)*perImage
	if st.LossRecent > lossRise*st.LossStart {
		return &DivergedError{Epoch: st.Epoch + 1, Step: st.Pos + 1, Steps: spe, Loss: st.LossRecent, Start: st.LossStart, LR: lr, BN: t.Opt.BN}
	}
	return nil
}

// checkLearning fails when the epoch just ended learnt nothing (see stallSteps).
func (t *Trainer) checkLearning(em EpochMetrics, spe int) error {
	k := float64(t.Model.Spec.Classes)
	if t.State.Step < stallSteps || float64(em.Epoch) <= t.Opt.Warmup || em.TrainAcc >= 1.5/k || em.TrainLoss <= 0.9*math.Log(k) {
		return nil
	}
	return &DivergedError{Epoch: em.Epoch, Step: spe, Steps: spe, Loss: em.TrainLoss, LR: t.Opt.LR, BN: t.Opt.BN, Acc: em.TrainAcc, Stalled: true}
}
