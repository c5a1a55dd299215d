#!/usr/bin/env python3
"""Generates sgemm_amd64.s: the SGEMM micro-kernels.

  sgemmKernel12x32   AVX-512F: 12×32 tile, 24 ZMM accumulators (2 per row),
                     two B loads and 12 broadcasts of A per k.
  sgemmKernel6x16    AVX2+FMA: 6×16 tile, 12 YMM accumulators (2 per row),
                     two B loads and 6 broadcasts of A per k (the Haswell
                     kernel of BLIS), the k loop unrolled by 4.

Each has an "RA" variant that reads A in place (row-major, stride lda)
instead of from a packed panel. The AVX2 kernels also take the distance
between consecutive k of A (when not RA) and of B, so that they read
packed panels (distance MR, NR) or, for small GEMMs where packing costs
as much as the arithmetic, op(A) = Aᵀ and B in place (distance lda, ldb).

Run: python3 gen_sgemm_amd64.py > sgemm_amd64.s   (go generate does it)
"""
out = []
w = out.append


class ISA:
    def __init__(self, reg, width, zero, nbcast):
        self.reg = reg  # register prefix: "Z" or "Y"
        self.width = width  # vector width in bytes
        self.zero = zero  # zeroing idiom, formatted with the register
        self.nbcast = nbcast  # broadcast registers, used in rotation


AVX512 = ISA("Z", 64, "VPXORD {r}, {r}, {r}", 4)
AVX2 = ISA("Y", 32, "VXORPS {r}, {r}, {r}", 2)


def store_tile(isa, MR, add):
    """Adds the accumulators to the tile at DX (rows R8 bytes apart), or
    stores them there, and returns."""
    R = isa.reg
    for i in range(MR):
        for v in range(2):
            off = f"{isa.width}" if v else ""
            if add:
                w(f"\tVADDPS {off}(DX), {R}{2*i+v}, {R}{2*i+v}")
            w(f"\tVMOVUPS {R}{2*i+v}, {off}(DX)")
        if i < MR - 1:
            w("\tADDQ R8, DX")
    w("\tVZEROUPPER")
    w("\tRET")


def kernel(isa, MR, NR, ra):
    """Emits one micro-kernel for packed panels; ra selects the in-place-A
    variant."""
    R = isa.reg
    nv = NR * 4 // isa.width  # vectors per row of the tile
    assert nv == 2
    acc = 2 * MR
    b0, b1 = acc, acc + 1  # the two B vectors
    bcast = list(range(acc + 2, acc + 2 + isa.nbcast))
    assert bcast[-1] < (32 if isa.reg == "Z" else 16)
    name = f"sgemmKernel{MR}x{NR}" + ("RA" if ra else "")
    tag = f"{MR}x{NR}" + ("ra" if ra else "")
    if not ra:
        w(f"// func {name}(kc int, a, b, c *float32, ldc int)")
        w(f"//")
        w(f"// c[i*ldc+j] += Σ_p a[p*{MR}+i]·b[p*{NR}+j] for i<{MR}, j<{NR}; kc ≥ 1.")
        w(f"TEXT ·{name}(SB), NOSPLIT, $0-40")
        w("\tMOVQ kc+0(FP), CX")
        w("\tMOVQ a+8(FP), SI")
        w("\tMOVQ b+16(FP), DI")
        w("\tMOVQ c+24(FP), DX")
        w("\tMOVQ ldc+32(FP), R8")
        w("\tSHLQ $2, R8")
    else:
        w(f"// func {name}(kc int, a *float32, lda int, b, c *float32, ldc int)")
        w("//")
        w(f"// As sgemmKernel{MR}x{NR}, with a[i*lda+p] in place of the packed a[p*{MR}+i].")
        w(f"TEXT ·{name}(SB), NOSPLIT, $0-48")
        w("\tMOVQ kc+0(FP), CX")
        w("\tMOVQ a+8(FP), SI")
        w("\tMOVQ lda+16(FP), R9")
        w("\tSHLQ $2, R9")
        w("\tMOVQ b+24(FP), DI")
        w("\tMOVQ c+32(FP), DX")
        w("\tMOVQ ldc+40(FP), R8")
        w("\tSHLQ $2, R8")
        # Rows are addressed in groups of three: base, base+lda, base+2·lda.
        w("\tLEAQ (R9)(R9*2), R13")
    bases = ["SI", "R10", "R11", "R12"][: (MR + 2) // 3]
    if ra:
        prev = "SI"
        for b in bases[1:]:
            w(f"\tLEAQ ({prev})(R13*1), {b}")
            prev = b
    for r in range(acc):
        w("\t" + isa.zero.format(r=f"{R}{r}"))

    def step(u):
        """One k step; u is the step's index within an unrolled iteration."""
        w(f"\tVMOVUPS {u*NR*4 or ''}(DI), {R}{b0}")
        w(f"\tVMOVUPS {u*NR*4+isa.width}(DI), {R}{b1}")
        for i in range(MR):
            br = bcast[i % len(bcast)]
            if ra:
                base = bases[i // 3]
                off = f"{4*u}" if u else ""
                addr = [f"{off}({base})", f"{off}({base})(R9*1)", f"{off}({base})(R9*2)"][i % 3]
            else:
                addr = f"{4*(u*MR+i)}(SI)"
            w(f"\tVBROADCASTSS {addr}, {R}{br}")
            w(f"\tVFMADD231PS {R}{b0}, {R}{br}, {R}{2*i}")
            w(f"\tVFMADD231PS {R}{b1}, {R}{br}, {R}{2*i+1}")

    def advance(u):
        if ra:
            for b in bases:
                w(f"\tADDQ ${4*u}, {b}")
        else:
            w(f"\tADDQ ${4*MR*u}, SI")
        w(f"\tADDQ ${4*NR*u}, DI")

    loop = "loop" + ("ra" if ra else "")
    w(f"{loop}:")
    step(0)
    advance(1)
    w("\tDECQ CX")
    w(f"\tJNZ {loop}")
    store_tile(isa, MR, add=True)


def strided_kernel(isa, MR, NR, ra, unroll=4):
    """Emits a micro-kernel that reads B with a step of bstep floats per k,
    and A with a step of astep floats per k (or, if ra, row-major with
    stride lda); the k loop is unrolled by unroll."""
    R = isa.reg
    assert NR * 4 == 2 * isa.width
    acc = 2 * MR
    b0, b1 = acc, acc + 1  # the two B vectors
    bcast = list(range(acc + 2, acc + 2 + isa.nbcast))
    assert bcast[-1] < 16
    name = f"sgemmKernel{MR}x{NR}" + ("RA" if ra else "")
    tag = f"{MR}x{NR}" + ("ra" if ra else "")
    if ra:
        w(f"// func {name}(kc int, a *float32, lda int, b *float32, bstep int, c *float32, ldc, acc int)")
        w("//")
        w(f"// c[i*ldc+j] (+)= Σ_p a[i*lda+p]·b[p*bstep+j] for i<{MR}, j<{NR}; kc ≥ 1;")
        w("// the tile is added to c if acc ≠ 0, else stored.")
    else:
        w(f"// func {name}(kc int, a *float32, astep int, b *float32, bstep int, c *float32, ldc, acc int)")
        w("//")
        w(f"// c[i*ldc+j] (+)= Σ_p a[p*astep+i]·b[p*bstep+j] for i<{MR}, j<{NR}; kc ≥ 1;")
        w("// the tile is added to c if acc ≠ 0, else stored.")
    w(f"TEXT ·{name}(SB), NOSPLIT, $0-64")
    w("\tMOVQ kc+0(FP), CX")
    w("\tMOVQ a+8(FP), SI")
    w(f"\tMOVQ {'lda' if ra else 'astep'}+16(FP), R9")
    w("\tSHLQ $2, R9")
    w("\tMOVQ b+24(FP), DI")
    w("\tMOVQ bstep+32(FP), R11")
    w("\tSHLQ $2, R11")
    w("\tMOVQ c+40(FP), DX")
    w("\tMOVQ ldc+48(FP), R8")
    w("\tSHLQ $2, R8")
    bases = ["SI", "R10"]
    if ra:
        # Rows in groups of three: base, base+lda, base+2·lda.
        assert MR <= 6
        w("\tLEAQ (R9)(R9*2), R13")
        w("\tLEAQ (SI)(R13*1), R10")
    for r in range(acc):
        w("\t" + isa.zero.format(r=f"{R}{r}"))

    def step(u):
        """One k step; u is the step's index within an unrolled iteration
        (A in place is addressed by offset, everything else advances)."""
        w(f"\tVMOVUPS (DI), {R}{b0}")
        w(f"\tVMOVUPS {isa.width}(DI), {R}{b1}")
        for i in range(MR):
            br = bcast[i % len(bcast)]
            if ra:
                off = f"{4*u}" if u else ""
                addr = f"{off}({bases[i // 3]})" + ["", "(R9*1)", "(R9*2)"][i % 3]
            else:
                addr = f"{4*i}(SI)" if i else "(SI)"
            w(f"\tVBROADCASTSS {addr}, {R}{br}")
            w(f"\tVFMADD231PS {R}{b0}, {R}{br}, {R}{2*i}")
            w(f"\tVFMADD231PS {R}{b1}, {R}{br}, {R}{2*i+1}")
        if not ra:
            w("\tADDQ R9, SI")
        w("\tADDQ R11, DI")

    def advance_ra(u):
        if ra:
            for b in bases:
                w(f"\tADDQ ${4*u}, {b}")

    w(f"\tCMPQ CX, ${unroll}")
    w(f"\tJLT tail{tag}")
    w(f"unrolled{tag}:")
    for u in range(unroll):
        step(u)
    advance_ra(unroll)
    w(f"\tSUBQ ${unroll}, CX")
    w(f"\tCMPQ CX, ${unroll}")
    w(f"\tJGE unrolled{tag}")
    w(f"tail{tag}:")
    w("\tTESTQ CX, CX")
    w(f"\tJZ store{tag}")
    w(f"one{tag}:")
    step(0)
    advance_ra(1)
    w("\tDECQ CX")
    w(f"\tJNZ one{tag}")
    w(f"store{tag}:")
    w("\tMOVQ acc+56(FP), BX")
    w("\tTESTQ BX, BX")
    w(f"\tJZ overwrite{tag}")
    store_tile(isa, MR, add=True)
    w(f"overwrite{tag}:")
    store_tile(isa, MR, add=False)


w("// Code generated by gen_sgemm_amd64.py; DO NOT EDIT.")
w("")
w("//go:build amd64 && !purego")
w("")
w('#include "textflag.h"')
w("")
kernel(AVX512, 12, 32, False)
# Variant reading A in place (row-major, stride lda) instead of from a
# packed panel: for GEMMs with few columns, packing A costs as much as the
# arithmetic.
w("")
kernel(AVX512, 12, 32, True)
w("")
strided_kernel(AVX2, 6, 16, False)
w("")
strided_kernel(AVX2, 6, 16, True)
print("\n".join(out))
