// Links the real libgptq (GPTQ_LIB_DIR) and runs a tiny quantize + matmul through the raw
// declarations; the library checks every struct_size, so a layout mismatch fails here.
use gptq_sys::*;
use std::ffi::CStr;
use std::ptr;

fn last_error(ctx: *const gptq_ctx) -> String {
    unsafe { CStr::from_ptr(gptq_last_error(ctx)).to_string_lossy().into_owned() }
}

#[test]
fn version_matches_header() {
    let v = unsafe { CStr::from_ptr(gptq_version_string()) }.to_str().unwrap();
    let n = unsafe { gptq_version_number() };
    assert_eq!(v.split('.').next().unwrap().parse::<u32>().unwrap(), n / 10000);
}

#[test]
fn bad_backend_is_an_error_not_a_crash() {
    unsafe {
        let mut p: gptq_ctx_params = std::mem::zeroed();
        gptq_ctx_params_init(&mut p);
        p.backend = 42;
        let mut ctx = ptr::null_mut();
        assert_eq!(gptq_ctx_create(&p, &mut ctx), GPTQ_ERR_INVALID_ARGUMENT);
        assert!(ctx.is_null());
        assert!(!last_error(ptr::null()).is_empty());
    }
}

#[test]
fn quantize_and_matmul() {
    const N: usize = 16;
    const K: usize = 64;
    const T: usize = 256;
    unsafe {
        let mut p: gptq_ctx_params = std::mem::zeroed();
        gptq_ctx_params_init(&mut p);
        p.backend = GPTQ_BACKEND_CPU;
        let mut ctx = ptr::null_mut();
        assert_eq!(gptq_ctx_create(&p, &mut ctx), GPTQ_OK, "{}", last_error(ptr::null()));

        // Deterministic pseudo-random data (LCG), activations with correlated neighbours.
        let mut s: u64 = 1;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        };
        let mut x = vec![0f32; T * K];
        for t in 0..T {
            let mut prev = 0f32;
            for j in 0..K {
                prev = 0.8 * prev + rnd();
                x[t * K + j] = prev;
            }
        }
        let w: Vec<f32> = (0..N * K).map(|_| 0.1 * rnd()).collect();

        let mut h = ptr::null_mut();
        assert_eq!(gptq_hessian_create(ctx, K as i64, &mut h), GPTQ_OK);
        let xm = gptq_matrix { data: x.as_ptr().cast(), dtype: GPTQ_DTYPE_F32, rows: T as i64,
                               cols: K as i64, row_stride: 0 };
        assert_eq!(gptq_hessian_add(h, &xm), GPTQ_OK, "{}", last_error(ctx));

        let qp = gptq_quant_params { bits: 4, group_size: 32, ..Default::default() };
        let wm = gptq_matrix { data: w.as_ptr().cast(), dtype: GPTQ_DTYPE_F32, rows: N as i64,
                               cols: K as i64, row_stride: 0 };
        let mut rep = gptq_quant_report::default(); // sets struct_size
        let mut q = ptr::null_mut();
        assert_eq!(gptq_quantize_layer(ctx, &qp, &wm, h, &mut q, &mut rep), GPTQ_OK,
                   "{}", last_error(ctx));
        assert!(rep.rel_output_error > 0.0 && rep.rel_output_error < 0.05, "{rep:?}");

        let mut info = gptq_qlayer_info::default();
        assert_eq!(gptq_qlayer_get_info(q, &mut info), GPTQ_OK);
        assert_eq!((info.qweight_rows, info.qweight_cols), ((K / 8) as i64, N as i64));

        // y = x0 * dequant(W)^T, checked against a sum in f64 within the fp32 bound.
        let mut wd = vec![0f32; N * K];
        assert_eq!(gptq_qlayer_dequantize(q, wd.as_mut_ptr(), wd.len()), GPTQ_OK);
        let x0 = gptq_matrix { rows: 1, ..xm };
        let mut y = vec![0f32; N];
        assert_eq!(gptq_matmul_q4(ctx, q, &x0, y.as_mut_ptr(), 0), GPTQ_OK, "{}", last_error(ctx));
        for n in 0..N {
            let exact: f64 = (0..K).map(|k| x[k] as f64 * wd[n * K + k] as f64).sum();
            let mag: f64 = (0..K).map(|k| (x[k] as f64 * wd[n * K + k] as f64).abs()).sum();
            assert!((y[n] as f64 - exact).abs() <= 2.0 * K as f64 * 2f64.powi(-24) * mag + 1e-30,
                    "y[{n}] = {} vs {exact}", y[n]);
        }

        gptq_qlayer_destroy(q);
        gptq_hessian_destroy(h);
        gptq_ctx_destroy(ctx);
    }
}
