// The safe API against the linked libgptq: quantize, matmul, packed tensors, errors.
// Reference values are computed here independently (f64 sums, the dequantization formula).
use gptq::{Backend, Context, Error, PackedLayer, QuantOptions, Scales, Status, ZerosFormat, F16};

const N: usize = 16;
const K: usize = 64;
const TOKENS: usize = 256;
const GROUP: i32 = 32;

/// Deterministic activations with correlated neighbouring features, and small weights.
fn problem() -> (Vec<f32>, Vec<f32>) {
    let mut s: u64 = 1;
    let mut rnd = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut x = vec![0f32; TOKENS * K];
    for row in x.chunks_mut(K) {
        let mut prev = 0f32;
        for v in row.iter_mut() {
            prev = 0.8 * prev + rnd();
            *v = prev;
        }
    }
    let w = (0..N * K).map(|_| 0.1 * rnd()).collect();
    (x, w)
}

#[test]
fn quantize_and_matmul_match_the_dequantized_product() -> gptq::Result<()> {
    assert!(Backend::Cpu.is_available());
    assert_eq!(gptq::version().split('.').count(), 3);
    let (x, w) = problem();
    let ctx = Context::new(Backend::Cpu)?;
    assert!(!ctx.device_name().is_empty());
    let mut h = ctx.hessian(K)?;
    h.add(&x)?;
    assert_eq!(h.tokens(), TOKENS as i64);
    let opts = QuantOptions::new()
        .bits(4)
        .group_size(GROUP)
        .desc_act(true)
        .layer_name("t");
    let (q, report) = ctx.quantize(&w, &h, &opts)?;
    assert!(
        report.rel_output_error > 0.0 && report.rel_output_error < 0.05,
        "{report:?}"
    );
    let info = *q.info();
    assert_eq!(
        (info.n, info.k, info.bits, info.n_groups),
        (N, K, 4, K / GROUP as usize)
    );
    assert_eq!(info.qweight, (K * 4 / 32, N));

    // Dequantized weight = scale * (code - zero) of each column's group.
    let (codes, zeros, scales, g) = (q.codes()?, q.zeros()?, q.unpacked_scales()?, q.g_idx()?);
    let wd = q.dequantize()?;
    for r in 0..N {
        for c in 0..K {
            let grp = g[c] as usize;
            let expect = scales[grp * N + r] * (codes[r * K + c] - zeros[grp * N + r]) as f32;
            assert_eq!(wd[r * K + c], expect, "W[{r},{c}]");
        }
    }
    // y = x * Wd^T within the fp32 dot-product bound 2 K u sum|x w|.
    let y = q.matmul(&x[..2 * K])?;
    assert_eq!(y.len(), 2 * N);
    for m in 0..2 {
        for r in 0..N {
            let p = (0..K).map(|c| x[m * K + c] as f64 * wd[r * K + c] as f64);
            let (exact, mag) = p.fold((0.0, 0.0), |(s, a), v| (s + v, a + v.abs()));
            let bound = 2.0 * K as f64 * 2f64.powi(-24) * mag + 1e-30;
            assert!((y[m * N + r] as f64 - exact).abs() <= bound, "y[{m},{r}]");
        }
    }
    Ok(())
}

#[test]
fn checkpoint_tensors_rebuild_the_layer() -> gptq::Result<()> {
    let (x, w) = problem();
    let ctx = Context::new(Backend::Cpu)?;
    let mut h = ctx.hessian(K)?;
    h.add(&x)?;
    let (q, _) = ctx.quantize(&w, &h, &QuantOptions::new().bits(3).group_size(GROUP))?;
    let scales = q.scales()?;
    let (qweight, g_idx) = (q.qweight()?, q.g_idx()?);
    for format in [ZerosFormat::V1, ZerosFormat::V2] {
        let qzeros = q.qzeros(format)?;
        let packed = PackedLayer {
            n: N,
            k: K,
            bits: 3,
            group_size: GROUP,
            zeros_format: format,
            qweight: &qweight,
            qzeros: &qzeros,
            scales: Scales::F16(&scales),
            g_idx: Some(&g_idx),
        };
        let again = ctx.layer_from_packed(&packed)?;
        assert_eq!(again.codes()?, q.codes()?);
        assert_eq!(again.zeros()?, q.zeros()?);
        assert_eq!(again.scales()?, scales);
    }
    Ok(())
}

#[test]
fn wrong_shapes_name_the_argument() -> gptq::Result<()> {
    let (x, w) = problem();
    let ctx = Context::new(Backend::Cpu)?;
    let mut h = ctx.hessian(K)?;
    let err = h.add(&x[..K + 1]).unwrap_err();
    assert_eq!(err.status, Status::Shape);
    assert!(err.message.starts_with("x:"), "{err}");
    h.add(&x)?;
    let err = ctx
        .quantize(&w[..w.len() - 1], &h, &QuantOptions::new())
        .err()
        .unwrap();
    assert!(
        err.status == Status::Shape && err.message.starts_with("weight:"),
        "{err}"
    );
    let q = ctx.quantize_rtn(&w, K, &QuantOptions::new())?;
    let mut y = vec![0f32; N + 1];
    let err = q.matmul_into(&x[..K], &mut y).unwrap_err();
    assert!(
        err.status == Status::Shape && err.message.starts_with("y:"),
        "{err}"
    );
    let qweight = q.qweight()?;
    let scales = vec![F16(0x3c00); 2 * N]; // right for 2 groups; qzeros is short
    let packed = PackedLayer {
        n: N,
        k: K,
        bits: 4,
        group_size: GROUP,
        zeros_format: ZerosFormat::V2,
        qweight: &qweight,
        qzeros: &[0; 2],
        scales: Scales::F16(&scales),
        g_idx: None,
    };
    let err = ctx.layer_from_packed(&packed).err().unwrap();
    assert!(err.message.starts_with("qzeros:"), "{err}");
    Ok(())
}

#[test]
fn hessian_set_from_get_quantizes_identically() -> gptq::Result<()> {
    let (x, w) = problem();
    let ctx = Context::new(Backend::Cpu)?;
    let mut h = ctx.hessian(K)?;
    h.add(&x)?;
    let mut again = ctx.hessian(K)?;
    again.set(&h.get()?, h.tokens())?;
    let err = again.set(&[0.0; K], 0).unwrap_err();
    assert!(
        err.status == Status::Shape && err.message.starts_with("m:"),
        "{err}"
    );
    let opts = QuantOptions::new();
    assert_eq!(
        ctx.quantize(&w, &h, &opts)?.0.qweight()?,
        ctx.quantize(&w, &again, &opts)?.0.qweight()?
    );
    Ok(())
}

#[test]
fn library_errors_carry_status_and_message() {
    let ctx = Context::new(Backend::Cpu).unwrap();
    let err: Error = ctx.hessian(0).err().unwrap();
    assert_eq!(err.status, Status::Shape);
    assert_eq!(err.status.code(), 2);
    assert!(
        err.message.contains('k') && err.to_string().contains(&err.message),
        "{err}"
    );
    let mut h = ctx.hessian(K).unwrap();
    h.add(&problem().0).unwrap();
    let err = ctx
        .quantize(&problem().1, &h, &QuantOptions::new().bits(5))
        .err()
        .unwrap();
    assert_eq!(err.status, Status::Unsupported, "{err}");
    assert!(err.message.contains("bits"), "{err}");
}

#[test]
fn half_precision_weights_quantize_like_their_f32_values() -> gptq::Result<()> {
    let (x, w) = problem();
    // Exactly representable halves: multiples of 2^-10 in (-0.05, 0.05).
    let halves: Vec<F16> = w
        .iter()
        .map(|&v| F16(f32_to_f16_exact((v * 1024.0).round() / 1024.0)))
        .collect();
    let as_f32: Vec<f32> = w.iter().map(|&v| (v * 1024.0).round() / 1024.0).collect();
    let ctx = Context::new(Backend::Cpu)?;
    let mut h = ctx.hessian(K)?;
    h.add(&x)?;
    let opts = QuantOptions::new().group_size(GROUP);
    let (a, _) = ctx.quantize(&halves, &h, &opts)?;
    let (b, _) = ctx.quantize(&as_f32, &h, &opts)?;
    assert_eq!(a.qweight()?, b.qweight()?);
    Ok(())
}

/// The binary16 pattern of a value that is exactly representable (normal or zero).
fn f32_to_f16_exact(v: f32) -> u16 {
    if v == 0.0 {
        return 0;
    }
    let bits = v.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32 - 127 + 15;
    let frac = ((bits >> 13) & 0x3ff) as u16;
    assert!(
        (1..31).contains(&exp) && bits & 0x1fff == 0,
        "{v} is not an exact normal half"
    );
    sign | ((exp as u16) << 10) | frac
}

// Twins of the crate docs' compile_fail examples with the mistake fixed, so those fail for
// the stated reason only (a misspelled option, an element type libgptq does not read).
#[allow(dead_code)]
fn quantize_twin(ctx: &gptq::Context, h: &gptq::Hessian) -> gptq::Result<()> {
    let w = vec![0.0f32; 64];
    ctx.quantize(&w, h, &gptq::QuantOptions::new())?;
    Ok(())
}

#[test]
fn options_twin() {
    let opts = gptq::QuantOptions::new().desc_act(true);
    assert_eq!(opts.get_bits(), 4);
}
