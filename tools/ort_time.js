// Times one ONNX model in ONNX Runtime (CPU, onnxruntime-node) for tools/compare_engines.py.
//
//   node tools/ort_time.js --model M.onnx --shape 1,3,224,224 [--threads T] [--warmup W]
//       [--iters K] [--input IN.f32] [--output OUT.f32] [--ort-dir DIR] [--no-gc]
//   node tools/ort_time.js --version [--ort-dir DIR]
//
// The input is a raw little-endian float32 file of the shape (random in [-1, 1) without one); the
// first output is written the same way with --output. One session per process: intra-op threads
// T, inter-op threads 1, sequential execution, every graph optimisation; W untimed runs, then K
// timed runs. Prints one JSON object: ORT's version, each run's time in ms, their median, p10 and
// p90, the output's shape. A run's time is the awaited session.run() call, as an application
// sees it: onnxruntime-node runs the graph synchronously inside one setImmediate callback, so it
// includes one event-loop turn and the wrapping of the output (a few microseconds).
//
// onnxruntime-node hands back every output in a new ArrayBuffer, which V8 frees only when it
// collects garbage. Until then each run writes its output to memory never touched before, and
// where first-touch page faults are slow (the VM this was written on: about 0.7 ms a run for a
// 200 KB output, 7x ORT's own time for a small block) the first few hundred runs time the page
// faults. So a minor garbage collection follows every run, outside the timed region (--no-gc:
// don't), and the output's memory is reused as it would be in a C++ application.
//
// onnxruntime-node is looked up in DIR/node_modules (default: tools/ort next to this file).
'use strict';
const fs = require('fs');
const path = require('path');
const v8 = require('v8');
const vm = require('vm');

function fail(msg, code = 1) {
    process.stderr.write(`ort_time.js: ${msg}\n`);
    process.exit(code);
}

function parseArgs(argv) {
    const a = {threads: 1, warmup: 3, iters: 10, gc: true, ortDir: path.join(__dirname, 'ort')};
    const take = (i) => {
        if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`, 2);
        return argv[i + 1];
    };
    const int = (s, name, min) => {
        const v = Number(s);
        if (!Number.isInteger(v) || v < min) fail(`${name} must be an integer >= ${min}`, 2);
        return v;
    };
    for (let i = 0; i < argv.length; i++) {
        const k = argv[i];
        if (k === '--version') a.version = true;
        else if (k === '--model') a.model = take(i++);
        else if (k === '--shape') a.shape = take(i++).split(',').map((s) => int(s, '--shape', 1));
        else if (k === '--threads') a.threads = int(take(i++), '--threads', 1);
        else if (k === '--warmup') a.warmup = int(take(i++), '--warmup', 0);
        else if (k === '--iters') a.iters = int(take(i++), '--iters', 1);
        else if (k === '--input') a.input = take(i++);
        else if (k === '--output') a.output = take(i++);
        else if (k === '--ort-dir') a.ortDir = take(i++);
        else if (k === '--no-gc') a.gc = false;
        else fail(`unknown argument '${k}'`, 2);
    }
    if (!a.version && (!a.model || !a.shape)) fail('--model and --shape are required', 2);
    return a;
}

function loadOrt(dir) {
    let where;
    try {
        where = require.resolve('onnxruntime-node', {paths: [path.resolve(dir)]});
    } catch (e) {
        fail(`onnxruntime-node is not installed under ${path.resolve(dir)}/node_modules; ` +
             `install it with: ONNXRUNTIME_NODE_INSTALL=skip npm install --prefix ${dir} ` +
             '--no-save --no-package-lock onnxruntime-node@1.30.0', 3);
    }
    return require(where);
}

function quantile(sorted, q) {
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos), hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

async function main() {
    const a = parseArgs(process.argv.slice(2));
    const ort = loadOrt(a.ortDir);
    const version = ort.env.versions.node || ort.env.versions.common;
    if (a.version) {
        process.stdout.write(JSON.stringify({ort_version: version}) + '\n');
        return;
    }
    const session = await ort.InferenceSession.create(a.model, {
        executionProviders: ['cpu'],
        intraOpNumThreads: a.threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const count = a.shape.reduce((p, v) => p * v, 1);
    let data;
    if (a.input) {
        const buf = fs.readFileSync(a.input);
        if (buf.length !== 4 * count)
            fail(`${a.input}: ${buf.length} bytes, shape ${a.shape.join('x')} needs ${4 * count}`);
        data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
    } else {
        data = new Float32Array(count);
        for (let i = 0; i < count; i++) data[i] = Math.random() * 2 - 1;
    }
    const feeds = {[session.inputNames[0]]: new ort.Tensor('float32', data, a.shape)};
    const first = session.outputNames[0];
    let collect = () => {};
    if (a.gc) {
        v8.setFlagsFromString('--expose-gc');
        const gc = global.gc || vm.runInNewContext('gc');
        collect = () => gc({type: 'minor'});
    }
    let result;
    const times = [];
    for (let i = 0; i < a.warmup + a.iters; i++) {
        const t0 = process.hrtime.bigint();
        const out = await session.run(feeds);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (i >= a.warmup) times.push(ms);
        result = out[first];
        if (i + 1 < a.warmup + a.iters) collect();  // the last output is still needed
    }
    if (a.output) {
        const v = result.data;
        fs.writeFileSync(a.output, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    const sorted = [...times].sort((x, y) => x - y);
    process.stdout.write(JSON.stringify({
        ort_version: version,
        threads: a.threads,
        warmup: a.warmup,
        iters: a.iters,
        gc_between_runs: a.gc,
        median_ms: quantile(sorted, 0.5),
        p10_ms: quantile(sorted, 0.1),
        p90_ms: quantile(sorted, 0.9),
        times_ms: times,
        output_shape: result.dims,
    }) + '\n');
}

main().catch((e) => fail(String(e && e.message ? e.message : e).split('\n')[0]));
