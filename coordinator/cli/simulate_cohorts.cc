#include "coordinator/cli/simulate_cohorts.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status.h"
#include "model/random.h"
#include "privacy/random.h"

namespace tessera::cli {
namespace {

double Clamp(double value, double lo, double hi) { return std::min(hi, std::max(lo, value)); }

double Normal(privacy::RandomSource& rng, double mean, double sd) {
  return mean + sd * model::SampleGaussian(rng);
}

bool Bernoulli(privacy::RandomSource& rng, double p) { return privacy::Uniform01(rng) < p; }

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

}  // namespace

const std::vector<TrustProfile>& DemoTrusts() {
  static const std::vector<TrustProfile> kTrusts = {
      {"guys", "Guy's and St Thomas'", 1300, 52, 26.6, 0.09, 0.14, 0.22},
      {"rfh", "Royal Free London", 900, 58, 27.2, 0.10, 0.12, 0.25},
      {"leeds", "Leeds Teaching Hospitals", 700, 61, 28.6, 0.12, 0.19, 0.27},
      {"nuth", "Newcastle upon Tyne Hospitals", 450, 64, 29.1, 0.14, 0.22, 0.28},
      {"ouh", "Oxford University Hospitals", 300, 56, 26.9, 0.08, 0.10, 0.24},
  };
  return kTrusts;
}

double RiskLogit(const SyntheticPatient& p) {
  return -2.3 + 0.045 * (p.age - 60) + 0.30 * (p.male ? 1 : 0) + 0.025 * (p.bmi.value_or(28) - 28) +
         0.010 * (p.systolic_bp - 135) + 0.020 * (p.hba1c - 45) + 0.006 * (p.creatinine - 85) +
         0.25 * (p.smoking == 1 ? 1 : 0) + 0.55 * (p.smoking == 2 ? 1 : 0) +
         0.40 * (p.diabetes ? 1 : 0) + 0.70 * (p.copd ? 1 : 0) + 0.90 * (p.heart_failure ? 1 : 0);
}

std::vector<SyntheticPatient> GenerateCohort(const TrustProfile& profile, uint64_t seed) {
  privacy::Xoshiro256StarStar rng(seed);
  std::vector<SyntheticPatient> patients;
  patients.reserve(static_cast<size_t>(std::max<int64_t>(0, profile.records)));
  for (int64_t i = 0; i < profile.records; ++i) {
    SyntheticPatient p;
    p.age = std::round(Clamp(Normal(rng, profile.mean_age, 16), 18, 95));
    p.male = Bernoulli(rng, 0.49);
    const double bmi = std::round(Clamp(Normal(rng, profile.mean_bmi, 5), 15, 60) * 10) / 10;
    if (!Bernoulli(rng, 0.015)) p.bmi = bmi;
    const double u = privacy::Uniform01(rng);
    p.smoking = u < profile.current_smokers                            ? 2
                : u < profile.current_smokers + profile.former_smokers ? 1
                                                                       : 0;
    // Diabetes is commoner with age and weight (odds x1.4 per decade, x1.1 per BMI unit).
    const double diabetes_logit = std::log(profile.diabetes / (1 - profile.diabetes)) +
                                  0.034 * (p.age - profile.mean_age) +
                                  0.095 * (bmi - profile.mean_bmi);
    p.diabetes = Bernoulli(rng, Sigmoid(diabetes_logit));
    p.hba1c = std::round(Clamp(p.diabetes ? Normal(rng, 62, 14) : Normal(rng, 37, 4.5), 25, 130));
    p.systolic_bp =
        std::round(Clamp(Normal(rng, 122 + 0.45 * (p.age - 50) + 0.6 * (bmi - 27), 15), 85, 220));
    p.creatinine = std::round(Clamp(
        std::exp(Normal(rng, std::log(68 + (p.male ? 14 : 0) + 0.5 * std::max(0.0, p.age - 50)),
                        0.22 + (p.diabetes ? 0.1 : 0))),
        35, 600));
    const double decade = (p.age - 60) / 10;
    p.copd = Bernoulli(
        rng, Sigmoid(-3.4 + 0.45 * decade + 1.3 * (p.smoking == 2) + 0.7 * (p.smoking == 1)));
    p.heart_failure = Bernoulli(
        rng, Sigmoid(-3.8 + 0.6 * decade + 0.5 * p.diabetes + 0.02 * (p.systolic_bp - 135)));
    p.risk = Sigmoid(RiskLogit(p));
    p.admitted = Bernoulli(rng, p.risk);
    patients.push_back(p);
  }
  return patients;
}

std::string CohortCsv(const std::vector<SyntheticPatient>& patients) {
  std::string csv =
      "age,sex,bmi,systolic_bp,hba1c,creatinine,smoking,diabetes,copd,heart_failure,admitted\n";
  static const char* const kSmoking[] = {"never", "former", "current"};
  for (const SyntheticPatient& p : patients) {
    absl::StrAppend(&csv, static_cast<int>(p.age), ",", p.male ? "male" : "female", ",",
                    p.bmi.has_value() ? absl::StrFormat("%.1f", *p.bmi) : "", ",",
                    static_cast<int>(p.systolic_bp), ",", static_cast<int>(p.hba1c), ",",
                    static_cast<int>(p.creatinine), ",", kSmoking[p.smoking], ",",
                    p.diabetes ? 1 : 0, ",", p.copd ? 1 : 0, ",", p.heart_failure ? 1 : 0, ",",
                    p.admitted ? 1 : 0, "\n");
  }
  return csv;
}

absl::StatusOr<std::vector<WrittenCohort>> WriteCohorts(const std::string& dir, uint64_t seed,
                                                        double scale,
                                                        const std::vector<TrustProfile>& trusts) {
  if (!(scale > 0 && scale <= 100)) {
    return absl::InvalidArgumentError("--scale must be in (0, 100]");
  }
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the folder ", dir, ": ", error.message()));
  }
  std::vector<WrittenCohort> written;
  uint64_t state = seed;
  for (const TrustProfile& trust : trusts) {
    TrustProfile profile = trust;
    profile.records = std::max<int64_t>(
        20, static_cast<int64_t>(std::llround(static_cast<double>(trust.records) * scale)));
    const std::vector<SyntheticPatient> patients =
        GenerateCohort(profile, privacy::SplitMix64(state));
    WrittenCohort cohort;
    cohort.profile = profile;
    cohort.path = (std::filesystem::path(dir) / (profile.site + ".csv")).string();
    cohort.records = profile.records;
    for (const SyntheticPatient& p : patients) {
      cohort.admitted += p.admitted ? 1 : 0;
      cohort.mean_risk += p.risk / static_cast<double>(patients.size());
    }
    TESSERA_RETURN_IF_ERROR(WriteFileAtomically(cohort.path, CohortCsv(patients), 0644));
    written.push_back(std::move(cohort));
  }
  return written;
}

}  // namespace tessera::cli
