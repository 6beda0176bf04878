#!/usr/bin/env python3
"""PyTorch CPU reference for `npm run bench`.

Reads a NASNet network plan (the JSON of @nasnet/network's planNetwork: every
layer with its kind, parameters, input layer names and shapes), builds an
nn.Module that runs the same DAG in PyTorch (NCHW, PyTorch's default layout),
trains it with SGD (momentum, L2 weight decay on conv and dense kernels,
gradient-norm clipping, the loss read back every step, as our trainer does)
on a fixed random batch, and prints one JSON line with images/s per thread
count.

TensorFlow's 'same' padding is reproduced exactly: where the padding is
asymmetric (stride 2 on an even size) the input is padded explicitly, zeros
for convs, -inf for max pools, and 'same' average pools average only the
real pixels (count_include_pad=False semantics, as TensorFlow). Drop path is
off, as in the search recipe.

With --verify, it first loads our network's weights (by layer name, in
tfjs layouts) and checks that it computes our logits for our input batch
(training mode: batch statistics), which shows both sides time the same
function, padding and all.

    /usr/bin/python3 libs/engine/bench/torch_reference.py --plan plan.json \
        --steps 10 --warmup 2 --batch 32 --threads 2,1 [--verify case.json]
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def same_padding(size, kernel, stride, dilation=1):
    """TensorFlow 'same': (pad_before, pad_after) along one axis."""
    out = math.ceil(size / stride)
    effective = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class PlannedLayer(nn.Module):
    """One plan layer; `forward` takes the list of its input tensors."""

    def __init__(self, layer, bn_momentum, bn_epsilon):
        super().__init__()
        self.spec = layer['spec']
        self.kind = self.spec['kind']
        self.in_shapes = layer['inputShapes']
        self.out_shape = layer['outputShape']
        s = self.spec
        kind = self.kind
        x_shape = self.in_shapes[0] if self.in_shapes else None
        self.pad = None  # explicit (left, right, top, bottom) padding, when asymmetric
        if kind in ('conv', 'dilated_conv', 'depthwise_conv'):
            h, w, c = x_shape
            if kind == 'conv':
                kh, kw = s['kernel']
                sh, sw = s['strides']
                dil, groups, filters = 1, 1, s['filters']
                padding = s['padding']
            elif kind == 'dilated_conv':
                kh = kw = s['kernel']
                sh = sw = 1
                dil, groups, filters, padding = s['rate'], 1, s['filters'], 'same'
            else:
                kh = kw = s['kernel']
                sh = sw = s['stride']
                dil, groups, filters, padding = 1, c, c, 'same'
            sym = (0, 0)
            if padding == 'same':
                ph = same_padding(h, kh, sh, dil)
                pw = same_padding(w, kw, sw, dil)
                if ph[0] == ph[1] and pw[0] == pw[1]:
                    sym = (ph[0], pw[0])
                else:
                    self.pad = (pw[0], pw[1], ph[0], ph[1])
            # No bias: batch norm follows every conv (reference arg scope).
            self.op = nn.Conv2d(c, filters, (kh, kw), stride=(sh, sw), padding=sym, dilation=dil, groups=groups, bias=False)
            nn.init.kaiming_normal_(self.op.weight, mode='fan_out', nonlinearity='relu')
        elif kind == 'batch_norm':
            c = x_shape[-1]
            # PyTorch's momentum is the weight of the new batch statistic.
            bn = nn.BatchNorm2d if len(x_shape) == 3 else nn.BatchNorm1d
            self.op = bn(c, eps=bn_epsilon, momentum=1 - bn_momentum)
        elif kind in ('avg_pool', 'max_pool'):
            h, w, _ = x_shape
            k, st = s['pool'], s['stride']
            padding = s.get('padding', 'same')
            self.k, self.st = k, st
            self.sym = (0, 0)
            if padding == 'same':
                ph = same_padding(h, k, st)
                pw = same_padding(w, k, st)
                if ph[0] == ph[1] and pw[0] == pw[1]:
                    self.sym = (ph[0], pw[0])
                else:
                    self.pad = (pw[0], pw[1], ph[0], ph[1])
                    if kind == 'avg_pool':
                        # Zero-padded 'valid' pool times k*k / (real pixels per window).
                        oh, ow = self.out_shape[0], self.out_shape[1]
                        cov = lambda i, size, before: min(i * st - before + k, size) - max(i * st - before, 0)
                        scale = torch.tensor([[k * k / (cov(i, h, ph[0]) * cov(j, w, pw[0])) for j in range(ow)] for i in range(oh)])
                        self.register_buffer('scale', scale.view(1, 1, oh, ow))
        elif kind == 'dense':
            self.op = nn.Linear(x_shape[-1], s['units'])
            nn.init.xavier_uniform_(self.op.weight)
            nn.init.zeros_(self.op.bias)
        elif kind == 'dropout':
            self.op = nn.Dropout(s['rate'])
        elif kind in ('relu', 'subsample', 'shift', 'add', 'concat', 'drop_path', 'global_avg_pool', 'flatten'):
            pass
        else:
            raise ValueError(f"plan layer {layer['name']}: unknown kind '{kind}'")

    def forward(self, xs):
        kind = self.kind
        x = xs[0]
        if kind in ('conv', 'dilated_conv', 'depthwise_conv'):
            if self.pad is not None:
                x = F.pad(x, self.pad)
            return self.op(x)
        if kind in ('batch_norm', 'dense', 'dropout'):
            return self.op(x)
        if kind == 'relu':
            return F.relu(x)
        if kind == 'avg_pool':
            if self.pad is not None:
                return F.avg_pool2d(F.pad(x, self.pad), self.k, self.st) * self.scale
            return F.avg_pool2d(x, self.k, self.st, padding=self.sym, count_include_pad=False)
        if kind == 'max_pool':
            if self.pad is not None:
                return F.max_pool2d(F.pad(x, self.pad, value=float('-inf')), self.k, self.st)
            return F.max_pool2d(x, self.k, self.st, padding=self.sym)
        if kind == 'subsample':
            return x[:, :, ::2, ::2]
        if kind == 'shift':
            return F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        if kind == 'add':
            out = xs[0]
            for y in xs[1:]:
                out = out + y
            return out
        if kind == 'concat':
            return torch.cat(xs, dim=1)
        if kind == 'drop_path':
            return x  # off in the search recipe
        if kind == 'global_avg_pool':
            return x.mean(dim=(2, 3))
        if kind == 'flatten':
            return torch.flatten(x, 1)
        raise AssertionError(kind)


class PlannedNetwork(nn.Module):
    """The plan's DAG: layers run in plan order, each reading named outputs."""

    def __init__(self, plan):
        super().__init__()
        options = plan['options']
        self.order = []
        self.inputs = {}
        self.layers = nn.ModuleDict()
        self.image = None
        for layer in plan['layers']:
            name = layer['name']
            if layer['spec']['kind'] == 'input':
                self.image = name
                continue
            if layer.get('aux'):
                continue  # the search recipe trains without the auxiliary head
            self.order.append(name)
            self.inputs[name] = layer['inputs']
            self.layers[name] = PlannedLayer(layer, options['batchNormMomentum'], options['batchNormEpsilon'])
        self.logits = plan['logits']
        # Each output is dropped after its last reader (autograd keeps what backward needs).
        self.last_readers = {}
        for name in self.order:
            for src in self.inputs[name]:
                self.last_readers[src] = name
        self.drop_after = {}
        for src, reader in self.last_readers.items():
            self.drop_after.setdefault(reader, []).append(src)

    def forward(self, image):
        values = {self.image: image}
        for name in self.order:
            values[name] = self.layers[name]([values[src] for src in self.inputs[name]])
            for src in self.drop_after.get(name, ()):
                del values[src]
        return values[self.logits]


def load_weights(model, weights):
    """Copy our network's weights (tfjs layouts, by layer name) into the torch modules."""
    for name, tensors in weights.items():
        layer = model.layers[name]
        t = [torch.tensor(w['values'], dtype=torch.float32).view(*w['shape']) for w in tensors]
        with torch.no_grad():
            if layer.kind in ('conv', 'dilated_conv'):
                layer.op.weight.copy_(t[0].permute(3, 2, 0, 1))  # [kh, kw, in, out] -> [out, in, kh, kw]
            elif layer.kind == 'depthwise_conv':
                layer.op.weight.copy_(t[0].permute(2, 3, 0, 1))  # [kh, kw, c, 1] -> [c, 1, kh, kw]
            elif layer.kind == 'dense':
                layer.op.weight.copy_(t[0].t())
                layer.op.bias.copy_(t[1])
            elif layer.kind == 'batch_norm':
                layer.op.weight.copy_(t[0])
                layer.op.bias.copy_(t[1])
                layer.op.running_mean.copy_(t[2])
                layer.op.running_var.copy_(t[3])
            else:
                raise ValueError(f'weights given for layer {name} of kind {layer.kind}')


def verify(model, case):
    """Our logits for one batch (training mode: batch statistics) against torch's with the same weights."""
    load_weights(model, case['weights'])
    x = torch.tensor(case['input']['values'], dtype=torch.float32).view(*case['input']['shape']).permute(0, 3, 1, 2)
    expected = torch.tensor(case['logits']['values'], dtype=torch.float32).view(*case['logits']['shape'])
    model.train()
    with torch.no_grad():
        got = model(x)
    diff = (got - expected).abs().max().item()
    scale = expected.abs().max().item()
    return {'maxAbsDiff': diff, 'maxAbsLogit': scale, 'ok': diff <= 1e-3 * max(1.0, scale)}


def train(model, steps, warmup, batch, image_shape, classes, recipe, seed, device=torch.device('cpu')):
    torch.manual_seed(seed)
    # L2 decay on conv and dense kernels only, as our trainer (not on BN or biases).
    decay = []
    for name, p in model.named_parameters():
        is_bn = isinstance(model.layers[name.split('.')[1]].op, (nn.BatchNorm1d, nn.BatchNorm2d))
        if not (is_bn or name.endswith('bias')):
            decay.append(p)
    # The L2 term's gradient joins before the clip (below), as in our trainer and the reference (slim adds the
    # regularisation losses to the total loss, whose gradient clip_by_global_norm clips): no weight_decay here,
    # which SGD would add after the clip.
    opt = torch.optim.SGD(model.parameters(), lr=recipe['learningRate'], momentum=recipe['momentum'])
    wd = recipe['weightDecay']
    h, w, c = image_shape
    x = torch.randn(batch, c, h, w).to(device)
    y = (torch.arange(batch) % classes).to(device)
    model.train()
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if wd > 0:
            with torch.no_grad():
                for p in decay:
                    p.grad.add_(p, alpha=wd)
        if recipe['gradientClipNorm'] > 0:
            nn.utils.clip_grad_norm_(model.parameters(), recipe['gradientClipNorm'])
        opt.step()
        value = loss.item()  # our trainer reads the loss every step (divergence check)
        if not math.isfinite(value):
            raise RuntimeError(f'loss diverged at step {step}: {value}')
        times.append(time.perf_counter() - t0)
    measured = sum(times[warmup:])
    return {'imagesPerSec': steps * batch / measured, 'msPerStep': 1000 * measured / steps, 'lastLoss': value}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--plan', required=True, help="plan JSON file ('-' reads stdin)")
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', default=str(len(os.sched_getaffinity(0))), help='comma-separated thread counts to time')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--verify', help='JSON file: our weights, an input batch and our logits; checked before timing')
    ap.add_argument('--recipe', default='{}', help='JSON: learningRate, momentum, weightDecay, gradientClipNorm')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='where to train (cuda: the GPU reference)')
    args = ap.parse_args()
    plan = json.load(sys.stdin if args.plan == '-' else open(args.plan))
    recipe = {'learningRate': 0.025, 'momentum': 0.9, 'weightDecay': 5e-4, 'gradientClipNorm': 5.0, **json.loads(args.recipe)}
    default_threads = torch.get_num_threads()
    model = PlannedNetwork(plan)
    params = sum(p.numel() for p in model.parameters())
    if params != plan['paramCount']:
        raise SystemExit(f"torch model has {params} parameters, the plan {plan['paramCount']}: not the same network")
    checked = verify(model, json.load(open(args.verify))) if args.verify else None
    device = torch.device(args.device)
    model.to(device)
    runs = []
    for threads in [int(t) for t in args.threads.split(',') if t]:
        torch.set_num_threads(threads)
        r = train(model, args.steps, args.warmup, args.batch, plan['inputShape'], plan['options']['numClasses'], recipe, args.seed, device)
        runs.append({'threads': threads, **r})
    print(json.dumps({
        'torch': torch.__version__, 'defaultThreads': default_threads, 'paramCount': params,
        'steps': args.steps, 'warmup': args.warmup, 'batch': args.batch, 'verify': checked, 'runs': runs,
        # Peak resident memory of this process (Linux reports ru_maxrss in KiB), as the wasm worker measures its own.
        'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        'device': args.device,
        'peakGpuBytes': torch.cuda.max_memory_allocated() if args.device == 'cuda' else None,
    }))


if __name__ == '__main__':
    main()
