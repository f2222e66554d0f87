package gptq_test

import (
	"errors"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libgptq/libgptq/bindings/go/gptq"
)

const n, k, tokens = 16, 64, 256

// problem gives activations with correlated neighbouring features and small weights.
func problem(seed int64) (x, w []float32) {
	rng := rand.New(rand.NewSource(seed))
	x = make([]float32, tokens*k)
	for i := 0; i < tokens; i++ {
		prev := 0.0
		for j := 0; j < k; j++ {
			prev = 0.8*prev + 0.6*rng.NormFloat64()
			x[i*k+j] = float32(prev)
		}
	}
	w = make([]float32, n*k)
	for i := range w {
		w[i] = float32(0.05 * rng.NormFloat64())
	}
	return x, w
}

func setup(t *testing.T) (*gptq.Context, *gptq.Hessian, []float32, []float32) {
	t.Helper()
	ctx, err := gptq.NewContext(gptq.CPU)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	x, w := problem(3)
	h, err := ctx.NewHessian(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Add(x); err != nil {
		t.Fatal(err)
	}
	return ctx, h, x, w
}

func opts(edit func(*gptq.Options)) *gptq.Options {
	o := gptq.DefaultOptions()
	edit(&o)
	return &o
}

// Every configuration: the checkpoint tensors have their documented shapes, dequantization
// is scale * (code - zero), the matmul equals x * Wd^T within the fp32 bound, and the
// checkpoint tensors rebuild the same layer.
func TestQuantizeConfigurations(t *testing.T) {
	ctx, h, x, w := setup(t)
	cases := []struct {
		name string
		opts *gptq.Options
	}{
		{"defaults", nil},
		{"2-bit sym g16", opts(func(o *gptq.Options) { o.Bits, o.GroupSize, o.Sym = 2, 16, true })},
		{"3-bit act-order g32", opts(func(o *gptq.Options) { o.Bits, o.GroupSize, o.DescAct = 3, 32, true })},
		{"4-bit static groups", opts(func(o *gptq.Options) { o.GroupSize, o.DescAct, o.StaticGroups = 32, true, true })},
		{"4-bit mse", opts(func(o *gptq.Options) { o.GroupSize, o.MSE, o.MSEGrid = 32, true, 20 })},
		{"8-bit per row", opts(func(o *gptq.Options) { o.Bits, o.GroupSize, o.BlockSize = 8, -1, 16 })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, rep, err := ctx.Quantize(w, h, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			bits, wantGroups := 4, k/128+1 // defaults: 4 bits, group 128 > k
			if c.opts != nil {
				bits = c.opts.Bits
				if c.opts.GroupSize > 0 {
					wantGroups = (k + c.opts.GroupSize - 1) / c.opts.GroupSize
				}
			}
			if q.Info.Bits != bits || q.Info.NGroups != wantGroups || !(rep.RelOutputError > 0 && rep.RelOutputError < 0.3) {
				t.Fatalf("info %+v report %+v", q.Info, rep)
			}
			checkDequantization(t, q)
			checkMatmul(t, q, x[:2*k])
			checkRebuild(t, ctx, q)
		})
	}
}

func checkDequantization(t *testing.T, q *gptq.QLayer) {
	codes, _ := q.Codes()
	zeros, _ := q.Zeros()
	scales, _ := q.UnpackedScales()
	g, _ := q.GIdx()
	wd, err := q.Dequantize()
	if err != nil {
		t.Fatal(err)
	}
	for r := 0; r < n; r++ {
		for c := 0; c < k; c++ {
			grp := int(g[c])
			want := scales[grp*n+r] * float32(codes[r*k+c]-zeros[grp*n+r])
			if wd[r*k+c] != want {
				t.Fatalf("W[%d,%d] = %v, want %v", r, c, wd[r*k+c], want)
			}
		}
	}
}

func checkMatmul(t *testing.T, q *gptq.QLayer, x []float32) {
	wd, _ := q.Dequantize()
	y, err := q.Matmul(x)
	if err != nil {
		t.Fatal(err)
	}
	rows := len(x) / k
	for m := 0; m < rows; m++ {
		for r := 0; r < n; r++ { // fp32 dot product bound: 2 k u sum|x w|
			exact, mag := 0.0, 0.0
			for c := 0; c < k; c++ {
				p := float64(x[m*k+c]) * float64(wd[r*k+c])
				exact += p
				mag += math.Abs(p)
			}
			if math.Abs(float64(y[m*n+r])-exact) > 2*k*math.Pow(2, -24)*mag+1e-30 {
				t.Fatalf("y[%d,%d] = %v, want %v", m, r, y[m*n+r], exact)
			}
		}
	}
}

func checkRebuild(t *testing.T, ctx *gptq.Context, q *gptq.QLayer) {
	qw, _ := q.QWeight()
	qz, _ := q.QZeros(gptq.ZerosV2)
	sc, _ := q.Scales()
	g, _ := q.GIdx()
	if len(qw) != q.Info.QWeightShape[0]*q.Info.QWeightShape[1] || q.Info.QWeightShape[1] != n {
		t.Fatalf("qweight %d values for shape %v", len(qw), q.Info.QWeightShape)
	}
	again, err := ctx.LayerFromPacked(gptq.Packed{N: n, K: k, Bits: q.Info.Bits, GroupSize: q.Info.GroupSize,
		ZerosFormat: gptq.ZerosV2, QWeight: qw, QZeros: qz, Scales: sc, GIdx: g})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	a, _ := again.Codes()
	b, _ := q.Codes()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("rebuilt code %d: %d vs %d", i, a[i], b[i])
		}
	}
}

// Wrong shapes and bad values: an *gptq.Error with the right status naming the argument.
func TestErrors(t *testing.T) {
	ctx, h, x, w := setup(t)
	q, err := ctx.QuantizeRTN(w, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		call   func() error
		status gptq.Status
		names  string
	}{
		{"hessian k 0", func() error { _, err := ctx.NewHessian(0); return err }, gptq.StatusShape, "k"},
		{"x not a multiple of k", func() error { return h.Add(x[:k+1]) }, gptq.StatusShape, "x:"},
		{"w not a multiple of k", func() error { _, _, err := ctx.Quantize(w[:k-1], h, nil); return err }, gptq.StatusShape, "w:"},
		{"matmul x short", func() error { _, err := q.Matmul(x[:k-1]); return err }, gptq.StatusShape, "x:"},
		{"5 bits", func() error {
			_, _, err := ctx.Quantize(w, h, opts(func(o *gptq.Options) { o.Bits = 5 }))
			return err
		}, gptq.StatusUnsupported, "bits"},
		{"layer name in message", func() error {
			_, _, err := ctx.Quantize(w, h, opts(func(o *gptq.Options) { o.GroupSize, o.LayerName = -7, "mlp.up" }))
			return err
		}, gptq.StatusUnsupported, "mlp.up"},
		{"hessian set short", func() error { return h.Set(make([]float32, k), 0) }, gptq.StatusShape, "m:"},
		{"packed qzeros short", func() error {
			qw, _ := q.QWeight()
			_, err := ctx.LayerFromPacked(gptq.Packed{N: n, K: k, Bits: 4, GroupSize: 128, ZerosFormat: gptq.ZerosV2,
				QWeight: qw, QZeros: make([]int32, 1), Scales: make([]uint16, n)})
			return err
		}, gptq.StatusShape, "QZeros"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var ge *gptq.Error
			if !errors.As(err, &ge) || ge.Status != c.status || !strings.Contains(ge.Message, c.names) {
				t.Fatalf("want a %v error naming %q, got %v", c.status, c.names, err)
			}
		})
	}
}

// A Hessian rebuilt with Set from another's Get quantizes identically.
func TestHessianGetSet(t *testing.T) {
	ctx, h, _, w := setup(t)
	m, err := h.Get()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ctx.NewHessian(k)
	if err := again.Set(m, h.Tokens()); err != nil {
		t.Fatal(err)
	}
	a, _, err1 := ctx.Quantize(w, h, nil)
	b, _, err2 := ctx.Quantize(w, again, nil)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	qa, _ := a.QWeight()
	qb, _ := b.QWeight()
	for i := range qa {
		if qa[i] != qb[i] {
			t.Fatalf("qweight[%d]: %d vs %d", i, qa[i], qb[i])
		}
	}
}

func TestClose(t *testing.T) {
	ctx, h, x, w := setup(t)
	q, err := ctx.QuantizeRTN(w, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"ctx.Close":    ctx.Close(),
		"h.Add":        h.Add(x),
		"q.Close":      q.Close(),
		"NewHessian":   func() error { _, err := ctx.NewHessian(k); return err }(),
		"q.Dequantize": func() error { _, err := q.Dequantize(); return err }(),
	} {
		if !errors.Is(err, gptq.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// A misspelled option or a matrix of another element type does not compile: Go's own
// error, naming the field or the argument. Checked by building tiny programs that use this
// module through a go.work, as a program outside the repository would.
func TestMistakesDoNotCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds programs")
	}
	goExe, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	module, _ := filepath.Abs("..")
	cases := []struct{ name, body, want string }{
		{"valid", `o := gptq.DefaultOptions(); o.DescAct = true; _, _, _ = ctx.Quantize([]float32{1}, nil, &o)`, ""},
		{"misspelled option", `o := gptq.DefaultOptions(); o.ActOrder = true; _ = o`, "ActOrder"},
		{"float64 weights", `_, _, _ = ctx.Quantize([]float64{1}, nil, nil)`, "[]float64"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, text string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write("go.mod", "module example.com/user\n\ngo 1.19\n")
			write("go.work", "go 1.19\n\nuse (\n\t.\n\t"+module+"\n)\n")
			write("main.go", "package main\n\nimport \"github.com/libgptq/libgptq/bindings/go/gptq\"\n\n"+
				"func main() {\n\tctx, _ := gptq.NewContext(gptq.CPU)\n\t"+c.body+"\n}\n")
			cmd := exec.Command(goExe, "build", "-o", os.DevNull, ".")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if c.want == "" {
				if err != nil {
					t.Fatalf("the valid program does not build: %s", out)
				}
				return
			}
			if err == nil || !strings.Contains(string(out), c.want) {
				t.Fatalf("want a compile error naming %s, got %v: %s", c.want, err, out)
			}
		})
	}
}
