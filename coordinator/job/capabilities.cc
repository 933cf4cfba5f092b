#include "coordinator/job/capabilities.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera::coordinator {

std::vector<std::string> AgentCapabilities() {
  std::vector<std::string> capabilities = {kRoundProtocolCapability};
  for (ModelKind kind : {ModelKind::kLogistic, ModelKind::kMlp, ModelKind::kTorchScript}) {
    capabilities.push_back(absl::StrCat("model/", ModelKindName(kind)));
  }
  for (PrivacyMode mode : {PrivacyMode::kNone, PrivacyMode::kRecord, PrivacyMode::kSite}) {
    capabilities.push_back(absl::StrCat("privacy/", PrivacyModeName(mode)));
  }
  capabilities.push_back("training/proximal-term");
  std::sort(capabilities.begin(), capabilities.end());
  return capabilities;
}

std::vector<std::string> RequiredCapabilities(const JobSpec& spec) {
  std::vector<std::string> required = {
      kRoundProtocolCapability,
      absl::StrCat("model/", ModelKindName(spec.model_kind)),
      absl::StrCat("privacy/", PrivacyModeName(spec.privacy_mode)),
  };
  if (spec.strategy.proximal_mu > 0) required.push_back("training/proximal-term");
  std::sort(required.begin(), required.end());
  return required;
}

std::vector<std::string> MissingCapabilities(const std::vector<std::string>& required,
                                             const std::vector<std::string>& offered) {
  std::vector<std::string> missing;
  for (const std::string& capability : required) {
    if (std::find(offered.begin(), offered.end(), capability) == offered.end()) {
      missing.push_back(capability);
    }
  }
  return missing;
}

}  // namespace tessera::coordinator
