module karpenter-rs/benches/go-rand

go 1.21
