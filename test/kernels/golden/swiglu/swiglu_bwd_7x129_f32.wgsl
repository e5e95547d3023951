// swiglu_bwd_7x129_f32
// swiglu backward: du = dh * silu(g), dg = dh * u * sigmoid(g) * (1 + g * (1 - sigmoid(g)))
// bindings: dh, g, u (read), dg, du (write), as f32; n = 903 elements = 903 vectors
// layout: an invocation handles 1 vectors strided by the workgroup size (neighbouring invocations, neighbouring memory); vectors past the end are skipped
@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> dg: array<f32>;
@group(0) @binding(4) var<storage, read_write> du: array<f32>;

alias V = f32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let first = (wid.x + wid.y * 4u) * 256u + lid.x;
  // The trip count is hidden behind `one` (arrayLength ≥ 1, known only at dispatch): lavapipe
  // unrolls constant-trip loops, which multiplied this pipeline's compile time for no speed.
  let one = min(arrayLength(&dh), 1u);
  for (var j = 0u; j < 1u * one; j++) {
    let i = first + j * 256u;
    if (i >= 903u) { return; }
    let gate: V = g[i];
    let up: V = u[i];
    let grad: V = dh[i];
    let s = 1.0f / (1.0f + exp(-gate));
    dg[i] = grad * up * s * (1.0f + gate * (1.0f - s));
    du[i] = grad * gate * s;
  }
}
