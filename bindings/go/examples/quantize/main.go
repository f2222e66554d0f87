// Quantizes a random layer to 4 bits with GPTQ and multiplies with it.
//
//	PKG_CONFIG_PATH=<prefix>/lib/pkgconfig go run ./bindings/go/examples/quantize
package main

import (
	"fmt"
	"log"
	"math/rand"

	"github.com/libgptq/libgptq/bindings/go/gptq"
)

func main() {
	const n, k, tokens = 64, 256, 512
	acts, weight := make([]float32, tokens*k), make([]float32, n*k)
	for i := range acts {
		acts[i] = float32(rand.NormFloat64())
	}
	for i := range weight {
		weight[i] = float32(0.05 * rand.NormFloat64())
	}

	ctx, err := gptq.NewContext(gptq.CPU)
	if err != nil {
		log.Fatal(err)
	}
	defer ctx.Close()
	h, err := ctx.NewHessian(k)
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Add(acts); err != nil {
		log.Fatal(err)
	}
	opts := gptq.DefaultOptions()
	opts.Bits, opts.GroupSize, opts.DescAct = 4, 128, true
	layer, report, err := ctx.Quantize(weight, h, &opts)
	if err != nil {
		log.Fatal(err)
	}
	qweight, _ := layer.QWeight()
	y, err := layer.Matmul(acts[:k])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d x %d -> qweight %v (%d words), relative output error %.4f, y[0] = %.4f\n",
		n, k, layer.Info.QWeightShape, len(qweight), report.RelOutputError, y[0])
	if _, err := ctx.NewHessian(0); err != nil {
		fmt.Println("a bad call:", err)
	}
}
