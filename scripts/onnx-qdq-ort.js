// Runs onnx/testdata/nin-mnist-qdq.onnx in ONNX Runtime on the images of onnx/testdata/qdq.json
// and compares its scores with the ones scripts/onnx-fixtures.py simulated, with ONNX Runtime's
// graph optimizations off (the QDQ graph as written) and on (its int8 kernels). Not part of the
// tests (it needs npm): a check that the fixture's simulation is ONNX's arithmetic.
//
//   npm install --ignore-scripts onnxruntime-node   # the install script only fetches CUDA parts
//   node scripts/onnx-qdq-ort.js onnx/testdata
//
// Prints one JSON line per optimization level.
const ort = require('onnxruntime-node');
const fs = require('fs');
async function main() {
  const dir = process.argv[2];
  const fx = JSON.parse(fs.readFileSync(dir + '/qdq.json'));
  const mean = fx.preprocess.mean[0], std = fx.preprocess.std[0];
  for (const level of ['disabled', 'all']) {
    const s = await ort.InferenceSession.create(dir + '/' + fx.file, { graphOptimizationLevel: level });
    let worst = 0, agree = 0;
    for (let i = 0; i < fx.images.length; i++) {
      const x = new Float32Array(784);
      for (let p = 0; p < 784; p++) x[p] = (Math.fround(fx.images[i][p] / 255) - mean) / std;
      const out = await s.run({ input: new ort.Tensor('float32', x, [1, 1, 28, 28]) });
      const y = out.scores.data;
      let a = 0, b = 0;
      for (let j = 0; j < 10; j++) {
        worst = Math.max(worst, Math.abs(y[j] - fx.scores[i][j]));
        if (y[j] > y[a]) a = j;
        if (fx.scores[i][j] > fx.scores[i][b]) b = j;
      }
      if (a === b) agree++;
    }
    console.log(JSON.stringify({ optimization: level, images: fx.images.length, top1_agree: agree, max_abs_diff_vs_fixture_simulation: worst }));
  }
}
main();
