"""Checked keyword options of quantize() / quantize_rtn(), mapped onto gptq_quant_params."""
import ctypes

from . import _lib

# Names are the fields of gptq_quant_params, which are also AutoGPTQ's BaseQuantizeConfig
# spellings (bits, group_size, sym, desc_act, static_groups, damp_percent, mse).
QUANT_OPTIONS = {
    # name: (converter, one-line meaning, shown in the TypeError and in help())
    "bits": (int, "2, 3, 4 or 8 (default 4)"),
    "group_size": (int, "-1 (one group per row) or >= 1 (default 128)"),
    "sym": (bool, "symmetric quantization (default False)"),
    "desc_act": (bool, "act-order: columns by descending diag(H) (default False)"),
    "static_groups": (bool, "group parameters fixed before GPTQ (default False)"),
    "block_size": (int, "columns per lazy-update block (default 128)"),
    "damp_percent": (float, "relative damping of the mean diagonal (default 0.01)"),
    "damp_auto_increment": (float, "added on Cholesky failure, 0 = no retry (default 0.01)"),
    "damp_max": (float, "cap on damping (default 1.0)"),
    "mse": (bool, "search the clipping range that minimises the error (default False)"),
    "mse_grid": (int, "clipping candidates (default 100)"),
    "mse_maxshrink": (float, "largest clipping shrink (default 0.8)"),
    "mse_norm": (float, "norm of the clipping error (default 2.4)"),
    "layer_name": (str, "used in error messages (default none)"),
}

# Spellings of the original GPTQ code (its command-line flags), accepted as aliases.
ALIASES = {"act_order": "desc_act", "groupsize": "group_size", "percdamp": "damp_percent",
           "wbits": "bits"}


def _valid_names():
    return ", ".join(list(QUANT_OPTIONS) + [f"{a} (= {c})" for a, c in ALIASES.items()])


def canonical(options, function):
    """options with aliases resolved; TypeError for an unknown or doubly given name."""
    out = {}
    for name, value in options.items():
        key = ALIASES.get(name, name)
        if key not in QUANT_OPTIONS:
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}; "
                            f"valid options: {_valid_names()}")
        if key in out:
            raise TypeError(f"{function}() got {key!r} twice (as {name!r} and its alias)")
        convert = QUANT_OPTIONS[key][0]
        if convert is not str and isinstance(value, (str, bytes)):
            raise TypeError(f"{function}(): option {name!r} must be {convert.__name__}, "
                            f"got {type(value).__name__}")
        out[key] = value
    return out


def quant_params(options, function, progress=None):
    """A gptq_quant_params from the library defaults overridden by the keyword options."""
    p = _lib.QuantParams()
    _lib.load_library().gptq_quant_params_init(ctypes.byref(p))
    for key, value in canonical(options, function).items():
        convert = QUANT_OPTIONS[key][0]
        try:
            converted = convert(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{function}(): option {key!r} must be {convert.__name__}, "
                            f"got {value!r}") from exc
        if key == "layer_name":
            converted = converted.encode()
        setattr(p, key, converted)
    if progress is not None:
        p.progress = progress
    return p
