// contrastive.h — the paper's method (docs/derivation.md, arXiv:2510.10572v1), one header for tools.
//
//   layout.h          view-major rows, P(i), N(i)                        §0, §5c
//   similarity.h      z̄ = f/‖f‖, S = Z̄Z̄ᵀ, Λ = S/τ                         §0, §6
//   prototypes.h      (S1) (S2) (S3) (S4), smooth max (B2)                §1, §2, §5a
//   losses.h          (D1), (NT), SupCon L_out                            §5c, §5d
//   balanced.h        balanced loss, step by step; ν/β/ρ aliases        §6
//   balanced_fused.h  balanced loss, fused node + telemetry              §6
//   balanced_blockwise.h  the same without the (M, M) matrix (tiles)     §6
//   prb.h             prototype representation bias                      §3
//   bounds.h          (B1) (B2) (B3) on a labelled batch                 §4, §5
#pragma once

#include "contrastive/balanced.h"
#include "contrastive/balanced_blockwise.h"
#include "contrastive/balanced_fused.h"
#include "contrastive/bounds.h"
#include "contrastive/layout.h"
#include "contrastive/losses.h"
#include "contrastive/prb.h"
#include "contrastive/prototypes.h"
#include "contrastive/similarity.h"
