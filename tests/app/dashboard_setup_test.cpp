#include "app/dashboard_setup.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "ml/bundle.h"
#include "ml/ensemble.h"
#include "ml/isolation_forest.h"

namespace netsentry::app {
namespace {

// The models panel and /api/models show the fusion the bundle really uses: each model's vote
// weight and the vote's quorum (the shipped default weighs the Random Forest twice the Isolation
// Forest and asks for 3/4 of the weight; the panel once said "weight 1" and "> 0.5" for all).
TEST(ModelsInfo, ShowsEachModelsVoteWeightAndTheQuorum) {
  ml::Bundle bundle;
  bundle.models.push_back(std::make_unique<ml::IsolationForest>());
  bundle.ensemble.set_mode(ml::EnsembleMode::kVote);
  bundle.ensemble.set_weight("isolation_forest", 2.0);
  bundle.ensemble.set_vote_quorum(0.75);
  const server::ModelsInfo info = models_info(bundle, "models/test");
  ASSERT_EQ(info.models.size(), 1u);
  EXPECT_EQ(info.models[0].name, "isolation_forest");
  EXPECT_DOUBLE_EQ(info.models[0].weight, 2.0);
  EXPECT_NE(info.ensemble_rule.find("0.75"), std::string::npos) << info.ensemble_rule;
  EXPECT_EQ(info.ensemble_rule.find("original"), std::string::npos) << info.ensemble_rule;

  bundle.ensemble.set_vote_quorum(0.5);
  EXPECT_NE(models_info(bundle, "models/test")
                .ensemble_rule.find("> 0.5 of the models' weight "
                                    "(the original's rule)"),
            std::string::npos);
}

}  // namespace
}  // namespace netsentry::app
