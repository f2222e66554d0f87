package gptq

import (
	"errors"
	"math"
	"math/rand"
	"testing"
)

func TestErrors(t *testing.T) {
	ctx, err := NewContext(CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	_, err = ctx.NewHessian(0)
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != 2 || ge.Message == "" {
		t.Fatalf("want a GPTQ_ERR_SHAPE error with a message, got %v", err)
	}
}

func TestQuantizeMatmul(t *testing.T) {
	const n, k, tokens = 16, 64, 256
	if Version() == "" {
		t.Fatal("empty version")
	}
	ctx, err := NewContext(CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	rng := rand.New(rand.NewSource(3))
	x := make([]float32, tokens*k)
	for i := 0; i < tokens; i++ {
		prev := 0.0
		for j := 0; j < k; j++ { // correlated neighbouring features
			prev = 0.8*prev + 0.6*rng.NormFloat64()
			x[i*k+j] = float32(prev)
		}
	}
	w := make([]float32, n*k)
	for i := range w {
		w[i] = float32(0.05 * rng.NormFloat64())
	}
	h, err := ctx.NewHessian(k)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	q, rep, err := ctx.Quantize(w, n, k, h, 4, 32, false, true)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if !(rep.RelOutputError > 0 && rep.RelOutputError < 0.05) {
		t.Fatalf("relative output error %v", rep.RelOutputError)
	}
	qw, err := q.QWeight()
	if err != nil || len(qw) != k/8*n {
		t.Fatalf("qweight: %v, %d words", err, len(qw))
	}
	wd, err := q.Dequantize()
	if err != nil {
		t.Fatal(err)
	}
	y, err := q.Matmul(x[:k])
	if err != nil {
		t.Fatal(err)
	}
	for j := 0; j < n; j++ { // fp32 dot product bound: 2 k u sum|x w|
		exact, mag := 0.0, 0.0
		for c := 0; c < k; c++ {
			p := float64(x[c]) * float64(wd[j*k+c])
			exact += p
			mag += math.Abs(p)
		}
		if math.Abs(float64(y[j])-exact) > 2*k*math.Pow(2, -24)*mag+1e-30 {
			t.Fatalf("y[%d] = %v, want %v", j, y[j], exact)
		}
	}
}
