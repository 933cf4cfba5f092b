// The site's side of one secure-aggregation round, in the coordinator's
// wire terms: it takes the byte payload of each stage's input (a
// StageInput), hands it to the SecAgg+ client state machine
// (crypto/secagg/client.h) and returns the byte payload of this site's
// answer (a StageSubmission). The masked-input stage asks the caller for the
// vector to contribute, so training and encoding run only once the round
// has got that far.
//
// Thread-safety: not thread-safe; one session per round, driven from the
// agent's round thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/secagg/client.h"

namespace tessera::agent {

// The stages whose input the coordinator sends, named as on the wire.
enum class SecAggInput { kKeyList, kShareRelay, kSurvivorSet, kUnmaskRequest };

class SecAggSession {
 public:
  // Provides this site's contribution (vector_length values below
  // 2^bit_width), called once, at the masked-input stage.
  using InputProvider = std::function<absl::StatusOr<std::vector<uint32_t>>()>;

  explicit SecAggSession(std::unique_ptr<crypto::secagg::Client> client)
      : client_(std::move(client)) {}

  // The first message: this site's signed public keys.
  absl::StatusOr<std::vector<uint8_t>> Start();

  // Answers the coordinator's input for the next stage. INVALID_ARGUMENT
  // for a payload that does not parse; the client's errors otherwise (see
  // crypto/secagg/client.h: some abort the round for this site).
  absl::StatusOr<std::vector<uint8_t>> Handle(SecAggInput stage, crypto::ByteSpan payload,
                                              const InputProvider& input);

  const crypto::secagg::Client& client() const { return *client_; }

 private:
  std::unique_ptr<crypto::secagg::Client> client_;
};

}  // namespace tessera::agent
