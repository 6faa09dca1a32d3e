"""ExecuTorch backend: the pipeline's ``torch.export`` programs lowered to ``.pte`` files (XNNPACK
delegate or portable kernels, FP32 and PT2E INT8) and run with ExecuTorch's own runtime."""
