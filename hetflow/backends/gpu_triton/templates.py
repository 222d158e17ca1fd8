"""The Triton kernel templates: tested kernel bodies that the code generator configures.

Each is the body of a ``@triton.jit`` function (4-space indented) with ``{FIELD}``s the generator fills
with sizes, strides and pointer names; block sizes stay constexpr arguments (``BM``, ``BN``, ``BK``,
``BLOCK``), so one source serves every tuning configuration. Every template accumulates in float32
whatever the tensors' dtype; the generator appends the fused epilogue and the stores.
"""

# ``SPLIT_K`` programs share one output tile, each reducing every SPLIT_K-th block of K, for skinny
# problems (M small, K large) whose tiles alone would leave most SMs idle; their partial sums are added
# atomically into the zeroed output (the generator emits that store only for a matmul without epilogue).
MATMUL = """\
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_b = tl.program_id(2) // SPLIT_K
    pid_k = tl.program_id(2) % SPLIT_K
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    a_base = {PA} + {A_OFF}
    b_base = {PB} + {B_OFF}
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, {K}, BK * SPLIT_K):  # constant bounds: Triton 3.6's interpreter cannot take a tensor here
        rk = k0 + pid_k * BK + tl.arange(0, BK)
        a = tl.load(a_base + rm[:, None] * {K} + rk[None, :], mask=(rm[:, None] < {M}) & (rk[None, :] < {K}), other=0.0)
        b = tl.load(b_base + rk[:, None] * {N} + rn[None, :], mask=(rk[:, None] < {K}) & (rn[None, :] < {N}), other=0.0)
        acc += tl.dot(a{CAST}, b{CAST}{PRECISION})"""

# Implicit GEMM: rows are output pixels (batch, oh, ow), columns output channels of one group, and the
# reduction runs over (input channel, kh, kw); the im2col tile is gathered from the input on the fly.
CONV = """\
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid_g = tl.program_id(2)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    nb = rm // {OHW}
    oh = (rm // {OW}) % {OH}
    ow = rm % {OW}
    ih0 = oh * {SH} - {PH}
    iw0 = ow * {SW} - {PW}
    x_row = nb * {CHW} + pid_g * {CGHW}
    w_col = (pid_g * {OCG} + rn) * {K}
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, {K}, BK):
        rk = k0 + tl.arange(0, BK)
        ci = rk // {KHW}
        kh = (rk // {KW}) % {KH}
        kw = rk % {KW}
        ih = ih0[:, None] + kh[None, :] * {DH}
        iw = iw0[:, None] + kw[None, :] * {DW}
        amask = (rm[:, None] < {M}) & (rk[None, :] < {K}) & (ih >= 0) & (ih < {H}) & (iw >= 0) & (iw < {W})
        a = tl.load({PX} + x_row[:, None] + ci[None, :] * {HW} + ih * {W} + iw, mask=amask, other=0.0)
        b = tl.load({WPTR} + w_col[None, :] + rk[:, None], mask=(rk[:, None] < {K}) & (rn[None, :] < {OCG}), other=0.0)
        acc += tl.dot(a{CAST}, b{CAST}{PRECISION})"""

# One output point per lane; the window's taps are unrolled. ``cnt`` counts taps inside the input,
# ``cnt_pad`` taps inside the explicit padding (never the ceil-mode overhang): the two average divisors.
WINDOW = """\
    acc = tl.full((BLOCK,), {INIT}, tl.float32)
    cnt = tl.zeros((BLOCK,), tl.float32)
    cnt_pad = tl.zeros((BLOCK,), tl.float32)
    x_base = c0 * {C} * {H} * {W} + {CHANNEL} * {H} * {W}
    for kh in tl.static_range({KH}):
        for kw in tl.static_range({KW}):
            ih = c2 * {SH} - {PH} + kh * {DH}
            iw = c3 * {SW} - {PW} + kw * {DW}
            valid = mask & (ih >= 0) & (ih < {H}) & (iw >= 0) & (iw < {W})
            inpad = (ih >= -{PH}) & (ih < {H} + {PH_END}) & (iw >= -{PW}) & (iw < {W} + {PW_END})
            x = tl.load({PX} + x_base + ih * {W} + iw, mask=valid, other={INIT}).to(tl.float32)
{TAP}"""

MAX_TAP = """\
            acc = tl.maximum(acc, x)"""

SUM_TAP = """\
            acc = acc + tl.where(valid, x, 0.0)
            cnt = cnt + tl.where(valid, 1.0, 0.0)
            cnt_pad = cnt_pad + tl.where(inpad, 1.0, 0.0)"""

DWCONV_TAP = """\
            wv = tl.load({WPTR} + c1 * {KH} * {KW} + kh * {KW} + kw, mask=mask, other=0.0).to(tl.float32)
            acc = acc + tl.where(valid, x * wv, 0.0)"""

REDUCE = """\
    row = tl.program_id(0)
    base = {BASE}
    acc = tl.full((BLOCK,), {INIT}, tl.float32)
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        x = tl.load({PX} + base + {INNER}, mask=rmask, other=0.0).to(tl.float32)
        acc = {STEP}
    val = {FINAL}"""

# Online softmax: one pass keeps a running maximum and rescaled sum per lane, a second writes. A row is
# ``{R}`` elements ``{STRIDE}`` apart starting at ``{BASE}``: the last axis (stride 1), or any other axis read
# strided in place (rows are the outer x inner coordinates), so no transpose reaches memory.
SOFTMAX = """\
    row = tl.program_id(0)
    base = {BASE}
    m_vec = tl.full((BLOCK,), -3.0e38, tl.float32)
    l_vec = tl.zeros((BLOCK,), tl.float32)
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        x = tl.load({PX} + base + rr{STRIDE}, mask=rmask, other=-3.0e38).to(tl.float32)
        m_new = tl.maximum(m_vec, x)
        l_vec = l_vec * tl.exp(m_vec - m_new) + tl.where(rmask, tl.exp(x - m_new), 0.0)
        m_vec = m_new
    mx = tl.max(m_vec, axis=0)
    den = tl.sum(l_vec * tl.exp(m_vec - mx), axis=0)
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        x = tl.load({PX} + base + rr{STRIDE}, mask=rmask, other=0.0).to(tl.float32)
        tl.store({PO} + base + rr{STRIDE}, ({WRITE}).to({PO}.dtype.element_ty), mask=rmask)"""

# Mean, then variance of the centred values (two passes: no cancellation), then the affine write.
NORM = """\
    row = tl.program_id(0)
    base = row * {R}
    s1 = tl.zeros((BLOCK,), tl.float32)
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        s1 += tl.load({PX} + base + rr, mask=rmask, other=0.0).to(tl.float32)
    mean = tl.sum(s1, axis=0) / {R}
    s2 = tl.zeros((BLOCK,), tl.float32)
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        x = tl.load({PX} + base + rr, mask=rmask, other=0.0).to(tl.float32)
        d = tl.where(rmask, x - mean, 0.0)
        s2 += d * d
    rstd = 1.0 / tl.sqrt(tl.sum(s2, axis=0) / {R} + {EPS})
    for r0 in range(0, {R}, BLOCK):
        rr = r0 + tl.arange(0, BLOCK)
        rmask = rr < {R}
        x = tl.load({PX} + base + rr, mask=rmask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * {SCALE} + {BIAS}
        tl.store({PO} + base + rr, y.to({PO}.dtype.element_ty), mask=rmask)"""

# Flash attention: a tile of query rows streams over key/value tiles with an online softmax, so the
# score matrix never reaches memory. K arrives transposed ([.., D, Sk]), as the matched graph computes it.
ATTENTION = """\
    pid_m = tl.program_id(0)
    pid_b = tl.program_id(1)
    rm = pid_m * BM + tl.arange(0, BM)
    rd = tl.arange(0, {BD})
    rdv = tl.arange(0, {BDV})
    q_mask = (rm[:, None] < {S}) & (rd[None, :] < {D})
    q = tl.load({PQ} + pid_b * {S} * {D} + rm[:, None] * {D} + rd[None, :], mask=q_mask, other=0.0)
    m_i = tl.full((BM,), -3.0e38, tl.float32)
    l_i = tl.zeros((BM,), tl.float32)
    acc = tl.zeros((BM, {BDV}), tl.float32)
    for n0 in range(0, {SN}, BN):
        rn = n0 + tl.arange(0, BN)
        k_mask = (rd[:, None] < {D}) & (rn[None, :] < {SN})
        kt = tl.load({PK} + pid_b * {D} * {SN} + rd[:, None] * {SN} + rn[None, :], mask=k_mask, other=0.0)
        s = tl.dot(q{CAST}, kt{CAST}{PRECISION}) * {SCALE}
        s = tl.where(rn[None, :] < {SN}, s, -3.0e38)
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v_mask = (rn[:, None] < {SN}) & (rdv[None, :] < {DV})
        v = tl.load({PV} + pid_b * {SN} * {DV} + rn[:, None] * {DV} + rdv[None, :], mask=v_mask, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype){CAST}, v{CAST}{PRECISION})
        m_i = m_new
    acc = acc / l_i[:, None]
    o_mask = (rm[:, None] < {S}) & (rdv[None, :] < {DV})
    tl.store({PO} + pid_b * {S} * {DV} + rm[:, None] * {DV} + rdv[None, :], acc.to({PO}.dtype.element_ty), mask=o_mask)"""
