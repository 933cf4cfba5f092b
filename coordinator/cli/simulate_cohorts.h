// Synthetic patient cohorts for `tessera simulate` and the demo
// (`tessera synthetic-cohorts`): one CSV per NHS trust, of different sizes
// and case mixes, with an outcome drawn from a known risk model. No record
// describes a real person.
//
// Each patient has: age (years, 18-95), sex (female / male), bmi (kg/m2,
// 15-60, missing for about 1.5% of patients), systolic_bp (mmHg, 85-220),
// hba1c (mmol/mol, 25-130), creatinine (umol/L, 35-600), smoking (never /
// former / current), diabetes, copd and heart_failure (0/1), and the
// outcome `admitted` (0/1: an emergency admission within a year). The
// covariates depend on each other as in a general adult population (older
// patients have higher blood pressure, creatinine, COPD and heart failure;
// diabetes raises HbA1c; smoking raises COPD), and each trust shifts their
// distribution (age, BMI, diabetes and smoking prevalence): the federation's
// distribution shift. The outcome follows one risk model at every trust
// (RiskLogit; documented in docs/ml-lead-guide.md):
//
//   logit P(admitted) = -2.3 + 0.045 (age - 60) + 0.30 male + 0.025 (bmi - 28)
//                       + 0.010 (systolic_bp - 135) + 0.020 (hba1c - 45)
//                       + 0.006 (creatinine - 85) + 0.25 former + 0.55 current
//                       + 0.40 diabetes + 0.70 copd + 0.90 heart_failure
//
// so a logistic regression on the standardised features can learn it
// exactly, and the best possible ROC AUC is that of the true risk.
//
// Randomness: privacy::Xoshiro256StarStar seeded from the seed and the
// trust's position, so a seed always gives the same files on every machine.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::cli {

// How a trust's population differs from the others'.
struct TrustProfile {
  std::string site;  // site id, also the file name (SITE.csv)
  std::string name;  // for people
  int64_t records = 0;
  double mean_age = 58;
  double mean_bmi = 27.5;
  double diabetes = 0.10;  // prevalence
  double current_smokers = 0.14;
  double former_smokers = 0.25;
};

// The demo's five trusts: from 1,300 to 300 records, with older, heavier,
// more diabetic and more smoking populations at some than at others.
const std::vector<TrustProfile>& DemoTrusts();

struct SyntheticPatient {
  double age = 0;
  bool male = false;
  std::optional<double> bmi;  // missing for some patients
  double systolic_bp = 0;
  double hba1c = 0;
  double creatinine = 0;
  int smoking = 0;  // 0 never, 1 former, 2 current
  bool diabetes = false;
  bool copd = false;
  bool heart_failure = false;
  bool admitted = false;
  double risk = 0;  // the true probability the outcome was drawn with
};

// The risk model above. A missing BMI counts as 28 (no contribution).
double RiskLogit(const SyntheticPatient& patient);

// `profile.records` patients of one trust, from a generator seeded with
// `seed`. Values are rounded as they would be recorded (age, blood pressure,
// HbA1c and creatinine to integers, BMI to one decimal) before the risk is
// computed.
std::vector<SyntheticPatient> GenerateCohort(const TrustProfile& profile, uint64_t seed);

// The cohort as CSV with a header row:
// age,sex,bmi,systolic_bp,hba1c,creatinine,smoking,diabetes,copd,heart_failure,admitted
std::string CohortCsv(const std::vector<SyntheticPatient>& patients);

struct WrittenCohort {
  TrustProfile profile;
  std::string path;
  int64_t records = 0;
  int64_t admitted = 0;
  double mean_risk = 0;
};

// Writes one CSV per trust of `trusts` (each `records` scaled by `scale`,
// at least 20) into `dir` (created if needed), trust i seeded with
// SplitMix64 of `seed` and i. Errors: INVALID_ARGUMENT for a scale outside
// (0, 100]; those of WriteFileAtomically, naming the file.
absl::StatusOr<std::vector<WrittenCohort>> WriteCohorts(const std::string& dir, uint64_t seed,
                                                        double scale,
                                                        const std::vector<TrustProfile>& trusts);

}  // namespace tessera::cli
